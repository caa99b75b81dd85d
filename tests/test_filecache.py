"""The per-file store of a check's reading: a check that takes unchanged files from it reports
exactly what a check reading every file reports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_validate import BROKEN
from validate_helpers import FIXTURES, make_data

from generator import validate as validate_module
from generator.validate import check


def _full(issues) -> list[tuple]:
    return [(i.code, i.file, i.line, i.column, i.key, i.message, i.hint) for i in issues]


def _uncached(data: Path, monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as patch:
        patch.setenv("GONGZHI_CACHE", "0")
        return check(data, cases=False)


def _same(result, reference) -> None:
    assert _full(result.issues) == _full(reference.issues)
    assert result.tables == reference.tables
    assert (result.dataset is None) == (reference.dataset is None)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files a check read and cast (not the ones read again for an issue's position)."""
    seen: list[str] = []
    real = validate_module.read_entity_file

    def counting(found, file, flattener):
        seen.append(file)
        return real(found, file, flattener)

    monkeypatch.setattr(validate_module, "read_entity_file", counting)
    return seen


@pytest.mark.parametrize("fixture", sorted(name for name in BROKEN if not name.startswith("cases")))
def test_a_kept_check_reports_what_a_full_check_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str], fixture: str
) -> None:
    data = make_data(tmp_path, fixture)
    reference = _uncached(data, monkeypatch)
    reads.clear()
    first = check(data, cases=False)
    assert reads, "the first check reads every file"
    reads.clear()
    second = check(data, cases=False)
    assert reads == []  # every file kept: issues across files still carry their exact column
    _same(first, reference)
    _same(second, reference)
    # a checkout rewrites every file with the same bytes: hashed again, still kept
    for path in data.rglob("*.yaml"):
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 10**9))
    _same(check(data, cases=False), reference)
    assert reads == []


def test_edits_are_seen_and_only_the_edited_files_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    data = make_data(tmp_path)
    check(data, cases=False)
    # files edited (by an overlay that adds unknown references), one deleted, one added
    overlay = FIXTURES / "unknown-reference"
    edited = sorted(p.relative_to(overlay) for p in overlay.rglob("*.yaml"))
    for name in edited:
        shutil.copyfile(overlay / name, data / name)
    (data / "evaluations" / "nanyuan-2026-01.yaml").unlink()
    shutil.copyfile(data / "awards" / "zuimei-2025.yaml", data / "awards" / "zuimei-2026.yaml")
    reads.clear()
    result = check(data, cases=False)
    assert sorted(reads) == sorted(
        [f"data/{n.as_posix()}" for n in edited] + ["data/awards/zuimei-2026.yaml"]
    )
    _same(result, _uncached(data, monkeypatch))
    assert result.issues, "the overlay's references are reported"
    # and back: the original bytes again
    for name in edited:
        shutil.copyfile(FIXTURES / "base" / name, data / name)
    _same(check(data, cases=False), _uncached(data, monkeypatch))


def test_a_damaged_store_or_a_changed_contract_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[str]
) -> None:
    data = make_data(tmp_path, "enum")
    reference = _uncached(data, monkeypatch)
    check(data, cases=False)
    stored = sorted((tmp_path / ".gongzhi" / "cache" / "files").glob("*.pickle"))
    assert stored
    for path in stored:
        path.write_bytes(b"not a pickle")
    reads.clear()
    _same(check(data, cases=False), reference)
    assert reads, "a damaged store is read past"
    # the contract's descriptor is part of the store's key
    package = data / "datapackage.yaml"
    package.write_text(package.read_text("utf-8") + "\n# 改动\n", "utf-8")
    reads.clear()
    check(data, cases=False)
    assert reads == [], "a comment changes no rule"
    text = package.read_text("utf-8").replace("maxLength: 40}", "maxLength: 41}", 1)
    package.write_text(text, "utf-8")
    reads.clear()
    check(data, cases=False)
    assert reads, "a changed rule reads every file again"


def test_each_table_names_the_files_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``table_files`` (what the open data files are put together by): each table's files in
    order with their digests and row counts, the same kept or read, new for exactly the files
    that changed, and a new reader when the rules change."""
    data = make_data(tmp_path)
    result = check(data, cases=False)
    first = result.table_files
    assert set(first) >= {"meetings", "communities", "awards"}
    for name, rows in result.tables.items():
        assert sum(count for _, _, count in first[name].files) == len(rows)
        assert all(digest for _, digest, _ in first[name].files)
    assert [f for f, _, _ in first["meetings"].files] == sorted(f for f, _, _ in first["meetings"].files)
    assert _uncached(data, monkeypatch).table_files == first  # read, not kept: the same
    assert check(data, cases=False).table_files == first
    meeting = next((data / "meetings").glob("*.yaml"))
    meeting.write_text(meeting.read_text("utf-8").replace("title: ", "title: 改 ", 1), "utf-8")
    edited = check(data, cases=False).table_files
    changed = {name for name in first if edited[name] != first[name]}
    assert "meetings" in changed and "communities" not in changed and "awards" not in changed
    differ = [(a, b) for a, b in zip(first["meetings"].files, edited["meetings"].files, strict=True) if a != b]
    assert len(differ) == 1 and differ[0][0][0] == differ[0][1][0] and differ[0][0][1] != differ[0][1][1]
    shutil.copyfile(data / "awards" / "zuimei-2025.yaml", data / "awards" / "zuimei-2026.yaml")
    assert len(check(data, cases=False).table_files["awards"].files) == len(first["awards"].files) + 1
    package = data / "datapackage.yaml"
    package.write_text(package.read_text("utf-8").replace("maxLength: 40}", "maxLength: 41}", 1), "utf-8")
    assert check(data, cases=False).table_files["communities"].reader != first["communities"].reader


@pytest.mark.parametrize("fixture", ["base", *sorted(name for name in BROKEN if not name.startswith("cases"))])
def test_the_checks_across_files_in_a_forked_copy_report_what_one_process_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str
) -> None:
    """A large folder's checks across files run in a forked copy while the records are linked:
    the same issues, tables and dataset as in one process; a copy that fails is made up for."""
    from generator import forking

    data = make_data(tmp_path, None if fixture == "base" else fixture)
    alone = check(data, cases=False)
    monkeypatch.setattr(validate_module, "PARALLEL_CHECK_ROWS", 1)
    started = forking.Forked.start
    forks: list[str] = []
    monkeypatch.setattr(forking.Forked, "start", staticmethod(lambda work: forks.append("ok") or started(work)))
    _same(check(data, cases=False), alone)

    def broken(work):
        forks.append("broken")
        return started(lambda: 1 / 0)

    monkeypatch.setattr(forking.Forked, "start", staticmethod(broken))
    _same(check(data, cases=False), alone)
    assert forks == ["ok", "broken"]
    assert (alone.dataset is None) == bool(alone.errors)
