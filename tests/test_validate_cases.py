"""The DuckDB case checker: same codes as the YAML checks, physical CSV lines, Parquet rows, caps."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from validate_helpers import REPO, flat

from generator.casecheck import check_case_files
from generator.contract import load_contract

HEADER = "id,community,grid,channel,category,subcategory,reported_at,accepted_at,dispatched_at,due_at,closed_at,status,resolved_level,satisfaction"
GOOD = "C{n},xinfeng,xinfeng-01,居民上报,其他,噪音,2026-01-05 08:00:00,,,,,处理中,,"
COMMUNITIES = {"xinfeng", "yuanhua"}
GRIDS = {"xinfeng-01": "xinfeng", "yuanhua-01": "yuanhua"}


@pytest.fixture(scope="module")
def rule():
    return load_contract(REPO / "data", check_with_frictionless=False).tables["cases"]


def run(rule, *paths: Path, cap: int = 20, root: Path | None = None):
    root = root or paths[0].parent
    return check_case_files(
        list(paths), rule, communities=COMMUNITIES, grids=GRIDS, root=root, cap=cap
    )


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_valid_csv_has_no_issues(tmp_path, rule):
    path = write(tmp_path / "a.csv", [HEADER, *(GOOD.format(n=n) for n in range(50))])
    assert run(rule, path) == []


def test_multiline_records_keep_physical_lines(tmp_path, rule):
    quoted = 'C1,xinfeng,xinfeng-01,居民上报,其他,"两行\n说明",2026-01-05 08:00:00,,,,,处理中,,'
    bad = "C2,xinfeng,xinfeng-01,微信,其他,噪音,2026-01-05 08:00:00,,,,,处理中,,"
    path = write(tmp_path / "a.csv", [HEADER, quoted, GOOD.format(n=9), bad])
    assert flat(run(rule, path)) == [("not-in-enum", "a.csv", 5, "channel")]


def test_rejected_rows_shift_later_lines(tmp_path, rule):
    bad = "C3,xinfeng,xinfeng-01,居民上报,其他,噪音,2026-13-05 08:00:00,,,,,处理中,,"
    path = write(tmp_path / "a.csv", [HEADER, "C1,xinfeng", GOOD.format(n=2), "C9,x,y,z", bad])
    assert flat(run(rule, path)) == [
        ("csv-malformed", "a.csv", 2, ""),
        ("csv-malformed", "a.csv", 4, ""),
        ("impossible-date", "a.csv", 5, "reported_at"),
    ]


def test_cap_per_code_and_file_says_how_many_more(tmp_path, rule):
    rows = [
        f"C{n},xinfeng,xinfeng-01,微信,其他,噪音,2026-01-05 08:00:00,,,,,已办结,,满意"
        for n in range(40)
    ]
    path = write(tmp_path / "a.csv", [HEADER, *rows])
    issues = run(rule, path, cap=3)
    by_code: dict[str, list] = {}
    for issue in issues:
        by_code.setdefault(issue.code, []).append(issue)
    assert [i.line for i in by_code["not-in-enum"]] == [2, 3, 4, None]
    assert "另有 37 处" in by_code["not-in-enum"][-1].message
    assert "共 40 处" in by_code["not-in-enum"][-1].message
    # two checks share the code: closed without closed_at and without resolved_level
    assert [i.line for i in by_code["case-closed-incomplete"]] == [2, 2, 3, None]
    assert "另有 77 处" in by_code["case-closed-incomplete"][-1].message


def test_duplicates_name_both_lines(tmp_path, rule):
    path = write(tmp_path / "a.csv", [HEADER, GOOD.format(n=1), GOOD.format(n=2), GOOD.format(n=1)])
    issues = run(rule, path)
    assert flat(issues) == [("duplicate-id", "a.csv", 4, "id")]
    assert "第 2 行" in issues[0].message


def test_parquet_rows_are_checked_with_row_numbers(tmp_path, rule):
    path = tmp_path / "a.parquet"
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES "
        "('C1', 'xinfeng', 'xinfeng-01', '居民上报', '其他', 'x', TIMESTAMP '2026-01-05 08:00:00', '处理中', NULL, NULL),"
        "('C2', 'yuanhua', 'xinfeng-01', '居民上报', '其他', 'x', TIMESTAMP '2026-01-05 08:00:00', '已办结', TIMESTAMP '2026-01-04 08:00:00', '网格'),"
        "('C3', 'xinfeng', 'nowhere', '居民上报', '其他', 'x', TIMESTAMP '2026-01-05 08:00:00', '处理中', NULL, NULL)"
        ") t(id, community, grid, channel, category, subcategory, reported_at, status, closed_at, resolved_level)) "
        f"TO '{path}' (FORMAT parquet)"
    )
    issues = run(rule, path)
    assert flat(issues) == [
        ("date-order", "a.parquet", 2, "closed_at"),
        ("grid-community-mismatch", "a.parquet", 2, "grid"),
        ("unknown-reference", "a.parquet", 3, "grid"),
    ]
    assert issues[0].message.startswith("第 2 行：")


def test_gbk_bom_and_utf16(tmp_path, rule):
    gbk = write(tmp_path / "gbk.csv", [HEADER, GOOD.format(n=1)], encoding="gb18030")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + GOOD.format(n=1) + "\n").encode())
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes((HEADER + "\n").encode("utf-16"))
    issues = run(rule, gbk, bom, utf16)
    assert flat(issues) == [
        ("bom", "bom.csv", 1, ""),
        ("not-utf8", "gbk.csv", 2, ""),
        ("not-utf8", "u16.csv", 1, ""),
    ]
    assert "GBK" in issues[1].message and "UTF-16" in issues[2].message


def test_gbk_beyond_the_first_megabyte_is_found(tmp_path, rule):
    rows = [GOOD.format(n=n) for n in range(20000)]
    path = tmp_path / "late.csv"
    path.write_bytes(
        ("\n".join([HEADER, *rows]) + "\n").encode()
        + (
            "C99999,xinfeng,xinfeng-01,居民上报,其他,噪音,2026-01-05 08:00:00,,,,,处理中,,\n"
        ).encode("gb18030")
    )
    issues = run(rule, path)
    assert [(i.code, i.line) for i in issues] == [("not-utf8", 20002)]


def test_unknown_ids_skipped_when_yaml_could_not_be_read(tmp_path, rule):
    path = write(
        tmp_path / "a.csv", [HEADER, GOOD.format(n=1).replace("xinfeng,xinfeng-01", "zz,zz-01")]
    )
    issues = check_case_files([path], rule, communities=None, grids=None, root=tmp_path)
    assert issues == []
