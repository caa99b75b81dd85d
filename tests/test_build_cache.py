"""Build speed without stale output: the result cache, streamed rendering and linked assets.

A cached result must be used only while everything it was computed from is byte-for-byte the
same; rendering in MkDocs's order (the pages that need only the YAML first, the statistics
pages after ``before_late``) must write exactly what rendering everything at once writes; a
failing page must reach the caller as a Chinese ``RenderError`` naming the page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from validate_helpers import REPO

from generator import cache as result_cache
from generator import depends
from generator import stats as stats_module
from generator.build import derive, derive_stats, validate_and_link
from generator.cache import ResultCache, cache_root, file_digests
from generator.casecheck import check_case_files
from generator.contract import load_contract
from generator.pages import Asset, Deferred, Page, RenderContext
from generator.render import Feed, LateReaders, RenderError, make_environment, render, write_docs

HEADER = "id,community,grid,channel,category,subcategory,reported_at,accepted_at,dispatched_at,due_at,closed_at,status,resolved_level,satisfaction"
ROW = "C{n},{community},xinfeng-01,居民上报,其他,噪音,2026-01-05 08:00:00,,,,,处理中,,"
GRIDS = {"xinfeng-01": "xinfeng"}
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def rule():
    return load_contract(REPO / "data", check_with_frictionless=False).tables["cases"]


def _cases(path: Path, community: str) -> Path:
    path.write_text("\n".join([HEADER, *(ROW.format(n=n, community=community) for n in range(20))]) + "\n", "utf-8")
    return path


def _check(rule, path: Path, cache: ResultCache, communities: set[str]) -> list:
    return check_case_files([path], rule, communities=communities, grids=GRIDS, root=path.parent, cache=cache)


# --- the result cache ----------------------------------------------------------------------------


def test_case_check_is_reused_only_while_the_bytes_and_references_are_the_same(tmp_path: Path, rule) -> None:
    cases = _cases(tmp_path / "2026-Q1.csv", "nowhere")  # an unknown community on every row
    cache = ResultCache(tmp_path / "cache", "cases")
    first = _check(rule, cases, cache, {"xinfeng"})
    assert "unknown-reference" in {i.code for i in first}
    assert (cache.hits, cache.misses) == (0, 1)

    again = _check(rule, cases, cache, {"xinfeng"})
    assert again == first and cache.hits == 1

    # the same size and modification time, other bytes: the key follows the bytes
    stamp = cases.stat()
    _cases(cases, "xinfeng")  # "nowhere" and "xinfeng" have the same length
    os.utime(cases, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert cases.stat().st_size == stamp.st_size
    assert _check(rule, cases, cache, {"xinfeng"}) == []

    # the references are part of the key: the same file against other communities
    assert _check(rule, cases, cache, {"yuanhua"}) != []


def test_a_damaged_entry_is_ignored_and_replaced(tmp_path: Path, rule) -> None:
    cases = _cases(tmp_path / "a.csv", "nowhere")
    cache = ResultCache(tmp_path / "cache", "cases")
    expected = _check(rule, cases, cache, {"xinfeng"})
    for entry in (tmp_path / "cache" / "cases").glob("*.pickle"):
        entry.write_bytes(b"gongzhi-cache-1\n" + b"not a pickle")
    assert _check(rule, cases, cache, {"xinfeng"}) == expected
    assert cache.hits == 0
    assert _check(rule, cases, cache, {"xinfeng"}) == expected and cache.hits == 1


def test_the_cache_can_be_turned_off_or_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(result_cache.ENV, "0")
    assert cache_root(tmp_path / "data") is None
    off = ResultCache(None, "stats")
    off.put("k", 1)
    assert off.get("k") is None and not off.enabled
    monkeypatch.setenv(result_cache.ENV, str(tmp_path / "elsewhere"))
    assert cache_root(tmp_path / "data") == tmp_path / "elsewhere"
    monkeypatch.delenv(result_cache.ENV)
    assert cache_root(tmp_path / "data") == (tmp_path / ".gongzhi" / "cache").resolve()


def test_old_entries_are_pruned(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, "stats", keep=3)
    for n in range(6):
        cache.put(f"k{n}", n)
        os.utime(tmp_path / "stats" / f"k{n}.pickle", (n, n))
    assert sorted(p.stem for p in (tmp_path / "stats").glob("*.pickle")) == ["k3", "k4", "k5"]


def test_file_digests_are_remembered_by_stamp_but_not_for_files_just_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_bytes(b"a,b\n1,2\n")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    new.write_bytes(b"a,b\n3,4\n")
    expected = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (old, new)]
    assert file_digests([old, new], tmp_path / "cache") == expected

    reads: list[str] = []
    real = result_cache._sha256_of
    monkeypatch.setattr(result_cache, "_sha256_of", lambda path, size: reads.append(path) or real(path, size))
    assert file_digests([old, new], tmp_path / "cache") == expected
    assert reads == [str(new.resolve())]  # the old file was not read again
    assert result_cache.digests_remembered([old], tmp_path / "cache")
    assert not result_cache.digests_remembered([old, new], tmp_path / "cache")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert file_digests([empty], None) == [hashlib.sha256(b"").hexdigest()]


def test_statistics_come_from_the_cache_until_a_case_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO / "data", data)
    dataset, _, _ = validate_and_link(data)
    first = stats_module.stats_for_dataset(dataset)

    def fail(*args, **kwargs):
        raise AssertionError("computed again although nothing changed")

    monkeypatch.setattr(stats_module, "compute_stats", fail)
    again = stats_module.stats_for_dataset(dataset)
    assert again.kpis == first.kpis and again.as_of == first.as_of
    monkeypatch.undo()

    case_file = sorted(dataset.case_files)[-1]
    text = case_file.read_text("utf-8")
    case_file.write_text(text.replace("已办结", "处理中", 1), "utf-8")
    changed = stats_module.stats_for_dataset(dataset)
    assert changed.kpis != first.kpis


# --- rendering ----------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    """The docs folder's files but the render's own record (it holds the files' times)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != depends.MANIFEST}


class Recorder(Feed):
    """What MkDocs's companion would be told."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.counts: list[int] = []
        self.finished = False

    def plan(self, paths: list[str]) -> None:
        self.paths = list(paths)

    def ready(self, count: int) -> None:
        self.counts.append(count)

    def done(self) -> None:
        self.finished = True


def _sample_ctx() -> RenderContext:
    dataset, tables, _ = validate_and_link(REPO / "data")
    ctx = RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base="https://example.org/edit/",
                        derived={"tables": tables, "content_dir": REPO / "content"})
    derive(ctx)
    return ctx


def test_streamed_rendering_writes_what_rendering_with_every_figure_writes(tmp_path: Path) -> None:
    at_once = _sample_ctx()
    derive_stats(at_once)
    whole = render(at_once, tmp_path / "whole", REPO / "content")
    assert len(whole.written) > 300

    streamed = _sample_ctx()
    feed = Recorder()
    seen: dict[str, object] = {}

    def before_late() -> None:  # what the build does: count the statistics now
        seen["ready"] = feed.counts[-1]
        seen["written"] = {p.relative_to(tmp_path / "streamed").as_posix()
                           for p in (tmp_path / "streamed").rglob("*.md")}
        derive_stats(streamed)

    result = render(streamed, tmp_path / "streamed", REPO / "content", feed=feed, before_late=before_late)
    assert _tree(tmp_path / "streamed") == _tree(tmp_path / "whole")
    assert sorted(result.written) == sorted(whole.written)
    # the plan is every file, once; the counts climb to it; every page showing statistics is
    # written after before_late, every other one before it
    assert sorted(feed.paths) == sorted(p for p in _tree(tmp_path / "whole") if p != ".gongzhi-generated")
    assert feed.counts == list(range(1, len(feed.paths) + 1)) and feed.finished
    late = feed.paths[seen["ready"]:]
    assert {"index.md", "stats/index.md", "metrics.md", "opendata.md"} <= set(late)
    assert any(p.startswith("communities/") and p != "communities/index.md" for p in late)
    assert not any(p.startswith(("meetings/", "organisations/", "policies/")) for p in late if p.endswith(".md"))
    assert "index.md" not in seen["written"] and "meetings/index.md" in seen["written"]

    # a second run over the same folder rewrites nothing
    again = render(streamed, tmp_path / "streamed", REPO / "content", feed=Recorder())
    assert again.written == [] and again.unchanged == whole.unchanged + len(whole.written)


def _broken_templates(tmp_path: Path) -> tuple[Path, RenderContext]:
    """A template folder with ok.md and broken.md (which reads an undefined name), and a context."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ok.md").write_text("# {{ title }}\n", "utf-8")
    (templates / "broken.md").write_text("# {{ missing_value }}\n", "utf-8")
    dataset, _, _ = validate_and_link(REPO / "data")
    return templates, RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base=None, derived={})


def test_a_failing_page_is_reported_in_chinese_and_its_run_stays_on_record(tmp_path: Path) -> None:
    templates, ctx = _broken_templates(tmp_path)
    docs = tmp_path / "docs"
    write_docs({"old.md": b"# old\n"}, docs)

    def provider(_ctx):
        yield Page("a.md", "ok.md", {"title": "甲"})
        yield Page("b.md", "broken.md", {})

    with pytest.raises(RenderError, match="无法生成页面 b.md：模板 .*broken.md"):
        render(ctx, docs, None, [provider], [templates])
    # a.md was written before b.md failed: the next run knows it is generated
    assert (docs / "a.md").is_file()
    assert {"a.md", "b.md", "old.md"} <= set((docs / ".gongzhi-generated").read_text("utf-8").split())
    done = render(ctx, docs, None, [lambda _ctx: [Page("c.md", "ok.md", {"title": "丙"})]], [templates])
    assert sorted(done.deleted) == ["a.md", "old.md"] and not (docs / "a.md").exists()


def test_pages_that_read_the_statistics_are_found_from_the_templates(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "_figures.md").write_text("{{ stats.total }}\n", "utf-8")
    (templates / "shows.md").write_text('# {{ title }}\n{% include "_figures.md" %}\n', "utf-8")
    (templates / "plain.md").write_text('# {{ title }}\n{% include "_gone.md" ignore missing %}\n', "utf-8")
    (templates / "sly.md").write_text('# {{ derived.get("stats") }}\n', "utf-8")
    env = make_environment([templates])
    late = LateReaders(env)
    assert late(Page("a.md", "shows.md")) and not late(Page("b.md", "plain.md"))
    assert late(Page("c.md", "plain.md", Deferred(dict)))
    assert not late(Page("d.md", "sly.md"))  # not by the name: found out when rendered, below
    dataset, _, _ = validate_and_link(REPO / "data")
    ctx = RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base=None, derived={})

    def provider(_ctx):
        yield Page("d.md", "sly.md", {"title": "丁"})

    with pytest.raises(RenderError, match="尚未算出的 derived.stats"):
        render(ctx, tmp_path / "docs", None, [provider], [templates])


def test_linkable_assets_are_hard_linked_and_others_copied(tmp_path: Path) -> None:
    cached, plain = tmp_path / "cases-abc.csv", tmp_path / "plain.csv"
    cached.write_bytes(b"id\n1\n")
    plain.write_bytes(b"id\n2\n")
    docs = tmp_path / "docs"
    result = write_docs({"data/cases.csv": cached, "data/plain.csv": plain}, docs, links={"data/cases.csv"})
    assert sorted(result.written) == ["data/cases.csv", "data/plain.csv"]
    assert (docs / "data" / "cases.csv").samefile(cached)
    assert not (docs / "data" / "plain.csv").samefile(plain)
    assert write_docs({"data/cases.csv": cached, "data/plain.csv": plain}, docs, links={"data/cases.csv"}).unchanged == 2


def test_the_open_data_case_table_is_a_linkable_asset(tmp_path: Path) -> None:
    from generator import opendata

    data = tmp_path / "data"
    shutil.copytree(REPO / "data", data)
    dataset, tables, _ = validate_and_link(data)
    ctx = RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base=None,
                        derived={"tables": tables})
    assets = {a.path: a for a in opendata.pages(ctx) if isinstance(a, Asset)}
    cases = [a for a in assets.values() if a.path.endswith("/cases.csv")]
    assert len(cases) == 1 and cases[0].linkable and isinstance(cases[0].content.value(), Path)
    assert not any(a.linkable for a in assets.values() if a is not cases[0])
    # collecting waits for nothing: every table is made when it is written
    assert all(isinstance(a.content, Deferred) for a in assets.values() if not a.path.endswith("datapackage.json"))
    tables_csv = assets["data/communities.csv"].content.value()
    assert tables_csv == opendata.table_csv(
        [f["name"] for f in opendata._published_schema(_resource(opendata, ctx, "communities")).get("fields", [])],
        tables["communities"],
    )

    class Never:
        def result(self, *args):
            raise AssertionError("the export was asked for while collecting")

    ctx.derived["cases_export"] = Never()
    assert [a.path for a in opendata.pages(ctx)] == [*assets, "opendata.md"]


def _resource(opendata, ctx, name: str) -> dict:
    return next(r for r in opendata._package(ctx)["resources"] if r["name"] == name)


def test_case_work_started_early_makes_what_the_pages_would_make(tmp_path: Path) -> None:
    from generator.casestore import CaseWork
    from generator.opendata import cases_csv

    data = tmp_path / "data"
    shutil.copytree(REPO / "data", data)
    dataset, _, _ = validate_and_link(data)
    fields = ["id", "community", "channel", "category", "subcategory", "reported_at", "accepted_at",
              "dispatched_at", "due_at", "closed_at", "status", "resolved_level", "satisfaction"]
    early = CaseWork(data).start()
    early.supply(dataset)
    figures = early.stats(dataset)
    alone = stats_module.compute_stats(dataset.case_files, stats_module.community_streets(dataset),
                                       district=dataset.district.code)
    assert figures.kpis == alone.kpis and figures.as_of == alone.as_of
    path, rows, size = early.result(dataset.case_files, fields)
    expected, count = cases_csv(dataset.case_files, fields)
    assert path.read_bytes() == expected and rows == count and size == len(expected)
    assert b"grid" not in expected.splitlines()[0]
    assert set(early.timings) >= {"load", "stats", "export"}

    # a second build finds both in the cache and reads no case file
    again = CaseWork(data).start()
    again.supply(dataset)
    assert again.stats(dataset).kpis == alone.kpis
    again.wait()
    assert "load" not in again.timings

    # other fields than the thread planned: made again for what was asked
    fewer = fields[:3]
    other_path, other_rows, _ = early.result(dataset.case_files, fewer)
    assert other_path.read_bytes() == cases_csv(dataset.case_files, fewer)[0] and other_rows == count

    # an unreadable package: no thread, the export is still made on request
    (data / "datapackage.yaml").write_text("resources: [", "utf-8")
    late = CaseWork(data).start()
    assert late.result(dataset.case_files, fields)[0].read_bytes() == expected


def test_case_work_for_another_community_map_or_a_cancelled_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.casestore import CaseWork

    monkeypatch.setenv("GONGZHI_CACHE", "0")
    data = tmp_path / "data"
    shutil.copytree(REPO / "data", data)
    dataset, _, _ = validate_and_link(data)

    cancelled = CaseWork(data).start()
    cancelled.cancel()
    cancelled.wait()
    assert "stats" not in cancelled.timings and cancelled.error is None or "stats" not in cancelled.timings

    # the thread counted with one street map; the dataset asks with another: computed again
    work = CaseWork(data).start()
    work.supply(dataset)
    work.wait()
    first = work.stats(dataset)
    community = next(iter(dataset.communities.values()))
    home = community.street
    other_street = next(s for s in dataset.streets if s != home)
    monkeypatch.setattr(community, "street", other_street)
    moved = work.stats(dataset)
    assert moved is not first
    assert moved.kpis != first.kpis

    # the map guessed from the community files while the YAML is read is used only when the
    # valid dataset's is the same: here the dataset's differs from the files
    guessed = CaseWork(data).start()
    assert guessed._guess_mapping() == ({**stats_module.community_streets(dataset), community.id: home},
                                        dataset.district.code)
    guessed.supply(dataset)
    assert guessed.stats(dataset).kpis == moved.kpis


def test_pinyin_is_remembered_and_pypinyin_loaded_only_for_new_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sys

    from pypinyin import lazy_pinyin

    from generator import pinyin

    monkeypatch.setattr(pinyin, "MEMO_FILE", tmp_path / "pinyin.json")
    monkeypatch.setattr(pinyin, "_memo", None)
    monkeypatch.setattr(pinyin, "_new", {})
    assert pinyin.syllables("临平街道") == lazy_pinyin("临平街道") == ["lin", "ping", "jie", "dao"]
    assert pinyin.syllables("重庆") == lazy_pinyin("重庆")
    pinyin.save()

    # a later build: the memo file answers, pypinyin is not needed for these names
    monkeypatch.setattr(pinyin, "_memo", None)
    monkeypatch.setitem(sys.modules, "pypinyin", None)
    assert pinyin.syllables("临平街道") == ["lin", "ping", "jie", "dao"]
    with pytest.raises(ImportError):
        pinyin.syllables("南苑街道")

    # another pypinyin version: the memo is not trusted
    stored = json.loads((tmp_path / "pinyin.json").read_text("utf-8"))
    stored["pypinyin"] = "0.0"
    (tmp_path / "pinyin.json").write_text(json.dumps(stored), "utf-8")
    monkeypatch.setattr(pinyin, "_memo", None)
    with pytest.raises(ImportError):
        pinyin.syllables("临平街道")


def test_a_page_no_longer_produced_is_deleted_with_its_empty_folder(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs({"index.md": b"# a\n", "meetings/m1/index.md": b"# m1\n"}, docs)
    result = write_docs({"index.md": b"# a\n"}, docs)
    assert result.deleted == ["meetings/m1/index.md"]
    assert not (docs / "meetings").exists()
    assert (docs / "index.md").read_bytes() == b"# a\n"


def test_two_processes_render_what_one_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long runs of pages are shared with a forked helper (here every run of 8 pages, in
    blocks of 3): the same files, the same written list, the plan's files ready in order."""
    from generator import render as render_module

    one = _sample_ctx()
    derive_stats(one)
    monkeypatch.setattr(render_module, "PARALLEL_PAGES", 10**9)
    single = render(one, tmp_path / "single", REPO / "content")

    monkeypatch.setattr(render_module, "PARALLEL_PAGES", 8)
    monkeypatch.setattr(render_module, "BLOCK_PAGES", 3)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    helpers: list[object] = []
    start = render_module._Helper.start
    monkeypatch.setattr(render_module._Helper, "start",
                        staticmethod(lambda *a: helpers.append(start(*a)) or helpers[-1]))
    two = _sample_ctx()
    feed = Recorder()
    shared = render(two, tmp_path / "shared", REPO / "content", feed=feed, before_late=lambda: derive_stats(two))
    assert _tree(tmp_path / "shared") == _tree(tmp_path / "single")
    assert shared.written == single.written
    assert feed.counts == list(range(1, len(feed.paths) + 1)) and feed.finished
    assert len(helpers) >= 2 and all(helpers)  # the early pages and the late ones: a helper each
    # the second run over the folder: both processes find their pages unchanged
    again = render(two, tmp_path / "shared", REPO / "content", feed=Recorder())
    assert again.written == [] and again.unchanged == single.unchanged + len(single.written)


def test_a_page_failing_in_the_render_helper_fails_the_stage_in_chinese(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import render as render_module

    monkeypatch.setattr(render_module, "PARALLEL_PAGES", 4)
    monkeypatch.setattr(render_module, "BLOCK_PAGES", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    templates, ctx = _broken_templates(tmp_path)

    def provider(_ctx):
        for i in range(9):  # blocks [0 1] [2 3] [4 5] [6 7] [8]: page 3 is in the helper's block
            yield Page(f"p{i}.md", "broken.md" if i == 3 else "ok.md", {"title": f"第{i}页"})

    with pytest.raises(RenderError, match="无法生成页面 p3.md：模板 .*broken.md"):
        render(ctx, tmp_path / "docs", None, [provider], [templates])
    assert (tmp_path / "docs" / "p0.md").is_file()
    assert not list(tmp_path.glob("docs/p8.md"))  # the stage stopped there


def test_pages_with_deferred_contexts_are_rendered_by_the_build_not_the_helper(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``Deferred`` context may wait for the build's threads, which a forked helper lacks:
    however the blocks fall, such pages are made in the build's own process."""
    from generator import render as render_module

    monkeypatch.setattr(render_module, "PARALLEL_PAGES", 4)
    monkeypatch.setattr(render_module, "BLOCK_PAGES", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    templates, ctx = _broken_templates(tmp_path)

    def provider(_ctx):
        for i in range(3):
            yield Page(f"late{i}.md", "ok.md", Deferred(lambda: {"title": str(os.getpid())}))
        for i in range(9):
            yield Page(f"p{i}.md", "ok.md", {"title": f"第{i}页"})

    result = render(ctx, tmp_path / "docs", None, [provider], [templates])
    assert len(result.written) == 12
    for i in range(3):
        assert (tmp_path / "docs" / f"late{i}.md").read_text("utf-8") == f"# {os.getpid()}\n"


def test_open_data_tables_are_kept_while_their_rows_are_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import opendata

    kept = ResultCache(tmp_path / "cache", "opendata-tables")
    rows = [{"id": "a", "n": 1, "on": dt.date(2026, 3, 1)}, {"id": "b", "n": None, "on": None}]
    made = opendata._yaml_table(rows, ["id", "n", "on"], kept)
    assert made == opendata._yaml_table(rows, ["id", "n", "on"])  # as made without the cache

    def fail(*args):
        raise AssertionError("made again")

    with monkeypatch.context() as patch:
        patch.setattr(opendata, "table_csv", fail)
        patch.setattr(opendata, "table_json", fail)
        assert opendata._yaml_table([dict(r) for r in rows], ["id", "n", "on"], kept) == made
        with pytest.raises(AssertionError, match="made again"):
            opendata._yaml_table([{**rows[0], "n": 2}, rows[1]], ["id", "n", "on"], kept)
        with pytest.raises(AssertionError, match="made again"):
            opendata._yaml_table(rows, ["id", "on"], kept)


def test_open_data_tables_are_put_together_from_each_files_rows(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With the files the rows came from (``CheckResult.table_files``) only the rows of the
    files that changed are written out again; the table is byte for byte the one made whole."""
    from generator import opendata
    from generator.validate import TableFiles

    kept = ResultCache(tmp_path / "cache", "opendata-tables")
    fields = ["id", "n", "on", "tags"]
    rows = [{"id": f"r{i}", "n": i if i % 3 else None, "on": dt.date(2026, 1, 1 + i % 28),
             "tags": ["甲", "乙,丙"] if i % 2 else [], "extra": "不发布"} for i in range(10)]
    files = TableFiles("reader-1", (("a.yaml", "d1", 3), ("b.yaml", "d2", 0), ("c.yaml", "d3", 4), ("d.yaml", "d4", 3)))
    whole = opendata._yaml_table(rows, fields)
    assert opendata._yaml_table(rows, fields, kept, files, "t") == whole
    written: list[int] = []
    real = opendata._csv_rows

    def counted(names, part):
        written.append(len(part))
        return real(names, part)

    monkeypatch.setattr(opendata, "_csv_rows", counted)
    assert opendata._yaml_table(rows, fields, kept, files, "t") == whole and written == []
    # one file changed: its three rows are written again, the rest come from the last build
    changed = [dict(r) for r in rows]
    changed[8]["n"] = 99
    edited = TableFiles("reader-1", (*files.files[:3], ("d.yaml", "d4b", 3)))
    assert opendata._yaml_table(changed, fields, kept, edited, "t") == opendata._yaml_table(changed, fields)
    assert written == [3, 10]  # (then the whole table it is compared with)
    written.clear()
    # a file deleted, a file added: the others are kept
    fewer = changed[:3] + changed[7:] + [{"id": "new", "n": 1, "on": None, "tags": []}]
    later = TableFiles("reader-1", (files.files[0], ("d.yaml", "d4b", 3), ("e.yaml", "d5", 1)))
    assert opendata._yaml_table(fewer, fields, kept, later, "t") == opendata._yaml_table(fewer, fields)
    assert written[0] == 1
    written.clear()
    # another reader (the rules changed), other fields, or rows that do not add up: made again
    for again in (lambda: opendata._yaml_table(fewer, fields, kept, TableFiles("reader-2", later.files), "t"),
                  lambda: opendata._yaml_table(fewer, fields[:2], kept, later, "t"),
                  lambda: opendata._yaml_table(fewer[:-1], fields, kept, later, "t")):
        written.clear()
        made = again()
        assert sum(written) >= 6, "every row written out again"
        assert made[0] in (opendata.table_csv(fields, fewer), opendata.table_csv(fields[:2], fewer),
                           opendata.table_csv(fields, fewer[:-1]))
    unknown = TableFiles("reader-1", (*later.files[:2], ("e.yaml", None, 1)))
    assert opendata._yaml_table(fewer, fields, kept, unknown, "t") == opendata._yaml_table(fewer, fields)
    assert opendata._yaml_table([], fields, kept, TableFiles("reader-1", ()), "t") == opendata._yaml_table([], fields)
