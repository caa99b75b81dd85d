"""A page is rendered again only when its template, its context or a record it read changed
(``generator/depends.py``), and the docs folder a rebuild leaves equals a full render's."""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
import threading
from pathlib import Path

import pytest
from validate_helpers import REPO

from generator import depends
from generator.build import derive, derive_stats, validate_and_link
from generator.pages import RenderContext
from generator.render import TEMPLATES_DIR, PageRenderer, render

TODAY = dt.date(2026, 11, 28)
MEETING = "data/meetings/xinfeng-council/xinfeng-2026-03.yaml"


def _ctx(project: Path, today: dt.date = TODAY) -> RenderContext:
    dataset, tables, _ = validate_and_link(project / "data")
    ctx = RenderContext(dataset=dataset, today=today, site_url="/", edit_base="https://example.org/edit/",
                        derived={"tables": tables, "content_dir": REPO / "content"})
    derive(ctx)
    return ctx


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != depends.MANIFEST}


class Rendered:
    """Renders ``project`` into its docs folder and notes which pages went through Jinja."""

    def __init__(self, project: Path, monkeypatch: pytest.MonkeyPatch, templates: Path = TEMPLATES_DIR) -> None:
        self.project = project
        self.templates = templates
        self.paths: set[str] = set()
        original = PageRenderer.render

        def noting(renderer: PageRenderer, page, base):  # type: ignore[no-untyped-def]
            self.paths.add(page.path)
            return original(renderer, page, base)

        monkeypatch.setattr(PageRenderer, "render", noting)

    def __call__(self, docs: str = "docs", today: dt.date = TODAY):  # type: ignore[no-untyped-def]
        self.paths = set()
        ctx = _ctx(self.project, today)
        return render(ctx, self.project / docs, REPO / "content", template_dirs=[self.templates],
                      before_late=lambda: derive_stats(ctx))  # as a build does


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "data", tmp_path / "data")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _add_meeting(project: Path) -> None:
    source = project / MEETING
    text = source.read_text(encoding="utf-8").replace("xinfeng-2026-03", "xinfeng-2026-04")
    (source.parent / "xinfeng-2026-04.yaml").write_text(text, encoding="utf-8")


def _cut_cases(project: Path) -> None:
    cases = sorted((project / "data/cases").glob("*.csv"))[-1]
    lines = cases.read_text(encoding="utf-8").splitlines(keepends=True)
    cases.write_text("".join(lines[:-40]), encoding="utf-8")  # the last 40 cases withdrawn


EDITS = {
    "a meeting's title": lambda p: _edit(p / MEETING, "\ntitle: ", "\ntitle: （更正）"),
    "a meeting added": _add_meeting,
    "a meeting removed": lambda p: (p / "data/meetings/xinfeng-council/xinfeng-2025-03.yaml").unlink(),
    "a council renamed": lambda p: _edit(p / "data/councils/xinfeng-council.yaml", "\nname: ", "\nname: 新"),
    "a community renamed": lambda p: _edit(p / "data/communities/xinfeng.yaml", "\nname: ", "\nname: 新"),
    "a case file": _cut_cases,
}


# for each edit: pages that must be rendered again, and pages that must not
SHOWN: dict[str, tuple[set[str], set[str]]] = {
    "a meeting's title": ({"meetings/xinfeng-2026-03.md", "meetings/index.md", "councils/xinfeng-council.md"},
                          {"policies/index.md", "meetings/xinfeng-2025-09.md", "streets/donghu.md", "meetings/anping-2025-03.md",
                           "stats/index.md", "metrics.md"}),
    # the other meetings of its council read the council, whose list of meetings changed
    "a meeting added": ({"meetings/index.md", "councils/xinfeng-council.md", "communities/xinfeng.md"},
                        {"policies/index.md", "meetings/anping-2025-03.md"}),
    "a meeting removed": ({"meetings/index.md", "councils/xinfeng-council.md"}, {"awards/index.md"}),
    "a council renamed": ({"councils/xinfeng-council.md", "meetings/xinfeng-2026-03.md"}, {"policies/index.md"}),
    "a community renamed": ({"communities/xinfeng.md", "communities/index.md"}, {"policies/index.md"}),
    "a case file": ({"communities/xinfeng.md", "streets/donghu.md", "stats/index.md", "metrics.md"},
                    {"meetings/xinfeng-2026-03.md", "councils/xinfeng-council.md", "policies/index.md"}),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_rebuild_renders_the_pages_that_read_the_edit_and_equals_a_full_render(
        project: Path, monkeypatch: pytest.MonkeyPatch, edit: str) -> None:
    rendered = Rendered(project, monkeypatch)
    first = rendered()
    everything = set(rendered.paths)
    assert first.fresh == 0 and len(everything) > 300

    EDITS[edit](project)
    again = rendered()
    again_paths = rendered.paths
    full = rendered("full")  # a folder with no record: every page rendered
    assert _tree(project / "docs") == _tree(project / "full")
    assert full.fresh == 0
    # what shows the edit is rendered; pages that read none of it are not
    shown, not_shown = SHOWN[edit]
    assert shown <= again_paths and not not_shown & again_paths, (shown - again_paths, not_shown & again_paths)
    assert again.fresh >= 0.5 * len(everything), (again.fresh, len(everything))
    changed = set(again.written) & everything
    untouched = everything - again_paths
    assert changed.isdisjoint(untouched)  # every page whose bytes changed went through Jinja


def test_pages_keyed_a_run_at_a_time_go_out_in_order_and_equal_a_full_render(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild keys the pages in runs (``KEYED_RUN_PAGES``) and hands each run on before
    keying the next: the pages still reach MkDocs in the plan's order, the same ones are
    rendered, and the folder equals a full render's; when most of a run changed the rest
    goes as one run."""
    from generator import render as render_module

    class Feed(render_module.Feed):
        def __init__(self) -> None:
            self.order: list[str] = []
            self.counts: list[int] = []

        def plan(self, paths: list[str]) -> None:
            self.order = list(paths)

        def ready(self, count: int) -> None:
            self.counts.append(count)

    runs: list[int] = []
    render_pages = render_module.render_pages
    rendered = Rendered(project, monkeypatch)
    rendered()
    monkeypatch.setattr(render_module, "KEYED_RUN_PAGES", 16)
    monkeypatch.setattr(render_module, "render_pages",
                        lambda pages, *a, **k: (runs.append(len(pages)), render_pages(pages, *a, **k))[1])
    EDITS["a meeting's title"](project)
    feed = Feed()
    ctx = _ctx(project)
    rendered.paths = set()
    again = render(ctx, project / "docs", REPO / "content", feed=feed, before_late=lambda: derive_stats(ctx))
    assert feed.counts == list(range(1, len(feed.order) + 1))
    shown, not_shown = SHOWN["a meeting's title"]
    assert shown <= rendered.paths and not not_shown & rendered.paths
    assert again.fresh >= len(feed.order) // 2
    assert len(runs) > 10 and max(runs[:-1]) == 16  # runs of 16 early pages, then the late ones
    rendered("full")
    assert _tree(project / "docs") == _tree(project / "full")
    # what every page shows changed (the edit link): the first run finds most of its pages
    # changed, and the rest are keyed and rendered as one run (then the late pages)
    runs.clear()
    ctx = _ctx(project)
    ctx.edit_base = "https://example.org/other/"
    render(ctx, project / "docs", REPO / "content", feed=Feed(), before_late=lambda: derive_stats(ctx))
    assert len(runs) == 3 and runs[0] == 16 and runs[1] > 16


def test_an_unchanged_rebuild_renders_only_the_pages_made_late(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = Rendered(project, monkeypatch)
    rendered()
    again = rendered()
    assert again.written == [] and again.fresh > 300
    # a page whose context is made late (the open data) is rendered every time; the pages of
    # the statistics are keyed by them like any page that shows them
    assert rendered.paths and "opendata.md" in rendered.paths
    assert not {"stats/index.md", "metrics.md"} & rendered.paths
    assert not any(p.startswith(("meetings/", "communities/", "streets/", "councils/")) for p in rendered.paths)

    # a new day: the forms that open or close follow it, with the pages showing them; a
    # meeting's page does not
    later = rendered(today=dt.date(2027, 6, 1))
    assert later.written and set(later.written) <= rendered.paths
    assert not any(p.startswith(("meetings/", "policies/")) for p in rendered.paths)


def test_a_page_changed_or_removed_in_the_docs_folder_is_rendered_again(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = Rendered(project, monkeypatch)
    rendered()
    docs = project / "docs"
    meeting = docs / "meetings/xinfeng-2026-03.md"
    original = meeting.read_bytes()
    meeting.write_bytes(original + "手工改动\n".encode())
    (docs / "policies/index.md").unlink()
    rendered()
    assert {"meetings/xinfeng-2026-03.md", "policies/index.md"} <= rendered.paths
    assert meeting.read_bytes() == original and (docs / "policies/index.md").is_file()


def test_a_template_change_or_a_damaged_record_renders_every_page(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = project / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    rendered = Rendered(project, monkeypatch, templates)
    first = rendered()
    everything = set(rendered.paths)

    _edit(templates / "_macros.md", "", "{#- 修订 -#}\n")  # a partial: no page's own template
    again = rendered()
    assert again.fresh == 0 and rendered.paths == everything

    (project / "docs" / depends.MANIFEST).write_bytes(b"\x80\x05damaged")
    third = rendered()
    assert third.fresh == 0 and rendered.paths == everything
    assert third.written == [] and first.written  # same bytes as before: nothing rewritten
    with open(project / "docs" / depends.MANIFEST, "rb") as handle:
        assert pickle.load(handle)["format"] == depends.FORMAT  # written anew


def test_records_are_keyed_by_their_file_and_line_and_digested_by_their_values(project: Path) -> None:
    ctx = _ctx(project)
    records = depends.Records(ctx.dataset)
    meeting = ctx.dataset.meetings["xinfeng-2026-03"]
    key = records.key(meeting)
    assert key == f"Meeting:{meeting.origin.file}:{meeting.origin.line}"
    assert records.by_key[key] is meeting and not records.ambiguous
    token = records.token(key)
    # its council stands as its key: the council's own values are not part of the meeting's
    council = meeting.council_ref
    council.name = "改名"
    assert depends.Records(ctx.dataset).token(key) == token
    meeting.title = "改名"
    assert depends.Records(ctx.dataset).token(key) != token
    # a value that cannot be written down makes the page unkeyable: it is rendered every time
    keys = depends.Keys(ctx, project / "docs", {})
    keys.begin("a.md", "policy.md", {"lock": threading.Lock()}, [])
    keys.begin("b.md", "policy.md", {"title": "标题"}, [])
    assert keys.key("a.md", []) is None and keys.key("b.md", []) is not None


def test_a_value_made_once_is_noted_for_every_page_that_uses_it(project: Path) -> None:
    """A street's statistics are made by the first page that shows them; every later page
    showing them read what making them read."""
    ctx = _ctx(project)
    community = ctx.dataset.communities["xinfeng"]
    made: dict[str, tuple] = {}

    def use() -> None:
        if "view" in made:
            depends.replay(made["view"][1])
        else:
            made["view"] = depends.remembered(lambda: community.name)

    with depends.Tracking() as tracking:
        pages = []
        for _ in range(2):
            tracking.begin()
            use()
            pages.append(tracking.end())
    assert all(any(r is community for r in read) for read, _ in pages)
    _, outside = depends.remembered(lambda: community.name)  # made while no page renders
    with depends.Tracking() as tracking:
        tracking.begin()
        depends.replay(outside)
        _, names = tracking.end()
    assert "derived" in names  # the page cannot be keyed


def test_the_link_stages_records_are_every_record_a_walk_of_the_relations_finds(project: Path) -> None:
    """``Records`` keys the link stage's list of records instead of walking every relation:
    the same records under the same keys, with the same tokens."""
    dataset = _ctx(project).dataset
    listed = depends.Records(dataset)
    kept, dataset.records = dataset.records, {}
    try:
        walked = depends.Records(dataset)
    finally:
        dataset.records = kept
    assert kept and sum(len(rows) for rows in kept.values()) == len(listed.by_key)
    assert listed.by_key.keys() == walked.by_key.keys()
    assert all(listed.by_key[k] is walked.by_key[k] for k in walked.by_key)
    assert listed.ambiguous == walked.ambiguous
    assert {k: listed.token(k) for k in listed.by_key} == {k: walked.token(k) for k in walked.by_key}
