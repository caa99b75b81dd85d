"""Incremental builds: after an edit MkDocs renders only the pages whose output can differ, and
the site is byte-identical to a full build of the same inputs (``generator/reuse.py``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from site_compare import site_files

from generator.build import build
from generator.reuse import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)


def _append(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def edit_meeting(project: Path) -> None:
    _append(project / "data/meetings/xinfeng-council/xinfeng-2026-03.yaml", "\ntitle: ", "\ntitle: （更正）")


def edit_community(project: Path) -> None:
    _append(project / "data/communities/anping.yaml", "\npopulation: ", "\npopulation: 1")


def edit_case_file(project: Path) -> None:
    cases = sorted((project / "data/cases").glob("*.csv"))[-1]
    lines = cases.read_text(encoding="utf-8").splitlines(keepends=True)
    cases.write_text("".join(lines[:-40]), encoding="utf-8")  # the last 40 cases withdrawn


def edit_template(project: Path) -> None:
    _append(project / "site_templates/theme/partials/copyright.html", "", "<!-- 修订 -->")


def delete_page(project: Path) -> None:
    (project / "data/policies").joinpath(sorted(p.name for p in (project / "data/policies").glob("*.yaml"))[-1]).unlink()


def add_page(project: Path) -> None:
    source = project / "data/meetings/xinfeng-council/xinfeng-2026-03.yaml"
    text = source.read_text(encoding="utf-8").replace("xinfeng-2026-03", "xinfeng-2026-04")
    (source.parent / "xinfeng-2026-04.yaml").write_text(text, encoding="utf-8")


EDITS: dict[str, Callable[[Path], None]] = {
    "one meeting": edit_meeting, "one community": edit_community, "one case file": edit_case_file,
    "a template": edit_template, "a page deleted": delete_page, "a page added": add_page,
}


def _project(root: Path) -> Path:
    project = root / "project"
    shutil.copytree(ROOT / "data", project / "data")
    shutil.copytree(ROOT / "site_templates", project / "site_templates")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    return project


def _build(project: Path, site: Path, content: Path = ROOT / "content") -> dict[str, int]:
    report = build(project / "data", site, config_file=project / "mkdocs.yml", docs_dir=project / f"docs-{site.name}",
                   content_dir=content, today=TODAY, index=True)
    return report.mkdocs.pages


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project built once: each edit starts from a copy of it."""
    root = tmp_path_factory.mktemp("incremental")
    project = _project(root)
    pages = _build(project, project / "site")
    assert pages["reused"] == 0 and pages["rendered"] > 250
    return root


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_rebuild_after_an_edit_equals_a_full_build(first: Path, tmp_path: Path, edit: str) -> None:
    shutil.copytree(first, tmp_path, dirs_exist_ok=True, symlinks=True)
    project = tmp_path / "project"
    EDITS[edit](project)
    # the last site's pages, held by a second link: no write of the rebuild may reach them
    # (pages are linked into the new site before the navigation is known, see Reuse.lend_early)
    held = tmp_path / "held"
    before = {}
    for page in (project / "site").rglob("*.html"):
        target = held / page.relative_to(project / "site")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(page, target)
        before[target] = page.read_bytes()
    incremental = _build(project, project / "site")  # beside the last site: reuses it
    _build(project, project / "fresh")  # no last site: renders every page
    assert site_files(project / "site") == site_files(project / "fresh")
    assert all(path.read_bytes() == data for path, data in before.items())
    total = incremental["reused"] + incremental["rendered"]
    if edit == "a template":  # every page's frame changed
        assert incremental["reused"] == 0
    else:  # the edit and the pages showing it are rendered, the rest reused
        assert incremental["reused"] >= 0.5 * total, incremental
        assert 1 <= incremental["rendered"] <= 0.5 * total, incremental


def test_an_unchanged_rebuild_renders_nothing_and_the_manifest_says_what_was_built(first: Path, tmp_path: Path) -> None:
    shutil.copytree(first, tmp_path, dirs_exist_ok=True, symlinks=True)
    project = tmp_path / "project"
    again = _build(project, project / "site")
    assert again["rendered"] == 0 and again["read"] == 0  # pages in the navigation too: their titles are kept
    assert again["skipped_reading"] >= 250
    # the render stage told MkDocs each unchanged page's digest: not even read for its key
    assert again["keys_kept"] >= 250
    manifest = json.loads((project / "site" / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["pages"]) >= {"index.md", "communities/xinfeng.md"}
    entry = manifest["pages"]["communities/xinfeng.md"]
    assert entry["size"] == (project / "site/communities/xinfeng/index.html").stat().st_size


def test_a_hand_changed_page_in_the_last_site_is_not_reused(first: Path, tmp_path: Path) -> None:
    shutil.copytree(first, tmp_path, dirs_exist_ok=True, symlinks=True)
    project = tmp_path / "project"
    page = project / "site/communities/xinfeng/index.html"
    page.write_text(page.read_text(encoding="utf-8") + "<!-- 手工改动 -->", encoding="utf-8")
    _build(project, project / "site")
    assert "手工改动" not in (project / "site/communities/xinfeng/index.html").read_text(encoding="utf-8")


def test_only_the_search_shards_with_changed_pages_are_indexed_again(
        first: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A site split into search shards (here by a small page budget, as a city's would be by
    size): after one meeting is edited, Pagefind runs for the shards whose pages changed."""
    from generator import search

    monkeypatch.setenv("GONGZHI_SEARCH_SHARD_PAGES", "60")
    shutil.copytree(first, tmp_path, dirs_exist_ok=True, symlinks=True)
    project = tmp_path / "project"
    runs: list[str] = []
    real = search._run_pagefind

    def counted(*args, **kwargs):
        runs.append(args[-1])  # the shard's name
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "_run_pagefind", counted)
    _build(project, project / "site")  # the first sharded index: every shard runs
    shards = len(runs)
    assert shards >= 4
    runs.clear()
    edit_meeting(project)
    _build(project, project / "site")
    assert 1 <= len(runs) < shards, runs
    runs.clear()
    _build(project, project / "fresh")
    assert len(runs) == shards
    assert site_files(project / "site") == site_files(project / "fresh")


def test_a_new_title_of_a_page_in_the_navigation_reaches_every_page(tmp_path: Path) -> None:
    """A page in the navigation without a title of its own there or in its front matter takes
    its first heading. While it is unchanged its title comes from the manifest (it is not
    converted again); when the heading changes, every page's navigation shows the new one. Both
    as in a full build."""
    project = _project(tmp_path)
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    page = content / "about/one-core.md"
    body = page.read_text(encoding="utf-8").split("---\n", 2)[2]  # without its front matter
    heading = next(line for line in body.splitlines() if line.startswith("# "))
    page.write_text(body.replace(heading, "# 一核多元（初稿）", 1), encoding="utf-8")
    _build(project, project / "site", content)

    edit_meeting(project)  # the navigation is unchanged: a few pages are rendered, with its title
    again = _build(project, project / "site", content)
    assert 0 < again["rendered"] < 20 and again["read"] < 50
    _build(project, project / "fresh", content)
    assert site_files(project / "site") == site_files(project / "fresh")
    meeting = next(p for p in (project / "site/meetings").rglob("index.html") if "（更正）" in p.read_text("utf-8"))
    assert "一核多元（初稿）" in meeting.read_text(encoding="utf-8")

    page.write_text(page.read_text(encoding="utf-8").replace("（初稿）", "（定稿）"), encoding="utf-8")
    again = _build(project, project / "site", content)
    assert again["rendered"] > 250  # the navigation changed: every page
    shutil.rmtree(project / "fresh")
    _build(project, project / "fresh", content)
    assert "一核多元（定稿）" in (project / "site/index.html").read_text(encoding="utf-8")
    assert site_files(project / "site") == site_files(project / "fresh")
