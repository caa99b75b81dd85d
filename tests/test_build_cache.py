"""Build speed without stale output: the result cache, forked rendering and linked assets.

A cached result must be used only while everything it was computed from is byte-for-byte the
same; parallel rendering must write exactly what serial rendering writes; a failure in a
render worker must reach the caller as a Chinese ``RenderError`` naming the page.
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
from generator import stats as stats_module
from generator.build import derive, load_config, validate_and_link
from generator.cache import ResultCache, cache_root, file_digests
from generator.casecheck import check_case_files
from generator.contract import load_contract
from generator.pages import Asset, Page, RenderContext
from generator.render import RenderError, render, render_workers, write_docs

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
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_forked_workers_write_exactly_what_one_process_writes(tmp_path: Path) -> None:
    dataset, tables, _ = validate_and_link(REPO / "data")
    config = load_config(REPO / "mkdocs.yml", tmp_path / "unused")
    ctx = RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base="https://example.org/edit/",
                        derived={"tables": tables, "content_dir": REPO / "content"})
    derive(ctx)
    assert config is not None
    serial = render(ctx, tmp_path / "one", REPO / "content", workers=1)
    forked = render(ctx, tmp_path / "three", REPO / "content", workers=3)
    assert sorted(forked.written) == sorted(serial.written) and len(serial.written) > 300
    assert _tree(tmp_path / "three") == _tree(tmp_path / "one")
    # a second forked run over the same folder rewrites nothing
    again = render(ctx, tmp_path / "three", REPO / "content", workers=3)
    assert again.written == [] and again.unchanged == serial.unchanged + len(serial.written)


def test_a_failing_page_in_a_worker_is_reported_in_chinese(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "ok.md").write_text("# {{ title }}\n", "utf-8")
    (templates / "broken.md").write_text("# {{ missing_value }}\n", "utf-8")
    dataset, _, _ = validate_and_link(REPO / "data")
    ctx = RenderContext(dataset=dataset, today=TODAY, site_url="/", edit_base=None, derived={})

    def provider(_ctx):
        yield Page("a.md", "ok.md", {"title": "甲"})
        yield Page("b.md", "broken.md", {})  # the second share: rendered by the forked worker

    with pytest.raises(RenderError, match="b.md"):
        render(ctx, tmp_path / "docs", None, [provider], [templates], workers=2)


def test_render_workers_stay_serial_for_small_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGZHI_RENDER_WORKERS", raising=False)
    assert render_workers(50) == 1
    assert render_workers(50, workers=2) == 2
    assert render_workers(1, workers=4) == 1
    monkeypatch.setenv("GONGZHI_RENDER_WORKERS", "1")
    assert render_workers(100_000) == 1


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
    assert len(cases) == 1 and cases[0].linkable and isinstance(cases[0].content, Path)
    assert not any(a.linkable for a in assets.values() if a is not cases[0])
    # the tables made ahead of time (while a build waits for the statistics) are the same bytes
    opendata.prepare(ctx)
    assert set(ctx.derived["opendata"]) and "cases" not in ctx.derived["opendata"]
    again = {a.path: a.content for a in opendata.pages(ctx) if isinstance(a, Asset)}
    assert again == {path: a.content for path, a in assets.items()}


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
