"""Sharded builds (``generator/shards.py``): several MkDocs runs, on this machine or on Dask
workers, assembled into the same site one run makes; a failed shard keeps the old site."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from site_compare import site_files

from generator.build import BuildError, build
from generator.shards import plan_shards

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    shutil.copytree(ROOT / "data", root / "data", ignore=shutil.ignore_patterns("cases"))
    return root


def _build(project: Path, name: str, **kwargs) -> dict[str, int]:
    report = build(project / "data", project / name, docs_dir=project / f"docs-{name}", today=TODAY, **kwargs)
    return report.mkdocs.pages


@pytest.fixture(scope="module")
def single(project: Path) -> dict[str, bytes]:
    pages = _build(project, "single", shards=1)
    assert "shards" not in pages
    return site_files(project / "single")


def test_pages_are_dealt_evenly() -> None:
    paths = [f"p{i}.md" for i in range(10)] + ["assets/x.css"]
    shards = plan_shards(paths, 3)
    assert shards == [["p0.md", "p3.md", "p6.md", "p9.md"], ["p1.md", "p4.md", "p7.md"], ["p2.md", "p5.md", "p8.md"]]


def test_two_local_shards_assemble_into_the_single_build(project: Path, single: dict[str, bytes]) -> None:
    pages = _build(project, "local", shards=2)
    assert pages["shards"] == 2 and pages["rendered"] == sum(1 for k in single if k.endswith(".html")) - 2  # 404, admin
    assert site_files(project / "local") == single
    assert not list(project.glob("*.shard-*"))


def test_a_sharded_rebuild_after_an_edit_equals_a_single_full_build(tmp_path: Path) -> None:
    """Two local shards writing into one folder, most pages taken from the last site."""
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns("cases"))
    _build(tmp_path, "two", shards=2)
    meeting = tmp_path / "data/meetings/xinfeng-council/xinfeng-2026-03.yaml"
    meeting.write_text(meeting.read_text(encoding="utf-8").replace("\ntitle: ", "\ntitle: （更正）", 1), encoding="utf-8")
    pages = _build(tmp_path, "two", shards=2)
    assert pages["shards"] == 2 and pages["reused"] > 200 and 1 <= pages["rendered"] < 40, pages
    _build(tmp_path, "one", shards=1)
    assert site_files(tmp_path / "two") == site_files(tmp_path / "one")


def test_dask_local_cluster_builds_the_shards(project: Path, single: dict[str, bytes]) -> None:
    """The same two shards as tasks on a Dask LocalCluster (two worker processes)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        pages = _build(project, "dask", shards=2, executor=cluster.scheduler_address)
    assert pages["shards"] == 2
    assert site_files(project / "dask") == single


def test_a_failed_shard_fails_the_build_and_keeps_the_old_site(project: Path, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    site = project / "kept"
    build(project / "data", site, docs_dir=project / "docs-kept", content_dir=content, today=TODAY, shards=2)
    before = site_files(site)
    # a page whose link leads nowhere: MkDocs (strict) fails in the shard that renders it
    (content / "about" / "broken.md").write_text("# 断链\n\n[不存在的页面](nowhere.md)\n", encoding="utf-8")
    with pytest.raises(BuildError, match="nowhere.md"):
        build(project / "data", site, docs_dir=project / "docs-kept", content_dir=content, today=TODAY, shards=2)
    assert site_files(site) == before
    assert not list(project.glob("*.shard-*")) and not list(project.glob(".kept.new-*"))


def test_wrong_shard_settings_are_refused_in_chinese(project: Path) -> None:
    with pytest.raises(BuildError, match="分片数应为正整数"):
        build(project / "data", project / "never", shards=0)
    with pytest.raises(BuildError, match="分片序号"):
        build(project / "data", project / "never", shard_index=1)
    with pytest.raises(BuildError, match="只用于 MkDocs"):
        build(project / "data", project / "never", shards=2, engine="zensical")
    assert not (project / "never").exists()


def test_shards_built_apart_assemble_into_the_single_build(project: Path, single: dict[str, bytes]) -> None:
    """As the CI matrix does: each shard by its own command, then ``gongzhi assemble``."""
    from generator.build import assemble_site

    parts = []
    for index in range(3):
        part = project / f"part-{index}"
        report = build(project / "data", part, docs_dir=project / f"docs-part-{index}", today=TODAY,
                       shards=3, shard_index=index)
        assert not report.indexed and not (part / "admin").exists()
        parts.append(part)
    site, pages, indexed, _notes = assemble_site(parts, project / "assembled", data_dir=project / "data")
    assert indexed and pages == sum(1 for k in single if k.endswith(".html")) - 2
    assert site_files(site) == single
    with pytest.raises(BuildError, match="缺少第 0 个分片"):
        assemble_site(parts[1:], project / "assembled", data_dir=project / "data")
    with pytest.raises(BuildError, match="同一个分片给了两次"):
        assemble_site([parts[0], parts[1], parts[1]], project / "assembled", data_dir=project / "data")
    assert site_files(site) == single  # the failed assemblies left it alone
