"""Case records at scale: the cases Table Schema compiled to DuckDB SQL.

Case files (``data/cases/*.csv`` and ``*.parquet``) can hold millions of rows, so instead of
checking row by row in Python, every constraint of the ``cases`` resource in
``data/datapackage.yaml`` — required, pattern, enum, length, type, range, primary key, foreign
keys — becomes a SQL predicate, evaluated in one streaming pass per file by DuckDB (embedded,
nothing to start). The issues carry the same codes as the YAML checks and the physical line of
the CSV file (the header is line 1); for Parquet, the row number.

Reporting is capped per code and file (``cap``): a file with a million bad rows yields the first
few of each kind and one line saying how many more were not listed.
"""

from __future__ import annotations

import bisect
import csv
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.cache import ResultCache
from generator.contract import FieldRule, TableRule
from generator.issues import Issue, IssueKind, Severity, first_line, register
from generator.load import BOM, EMPTY_FILE, NOT_UTF8, UNREADABLE, did_you_mean, not_utf8_issue, rel
from generator.validate import (
    DATE_ORDER,
    DUPLICATE_ID,
    IMPOSSIBLE_DATE,
    INVALID_DATE,
    MISSING_VALUE,
    NOT_IN_ENUM,
    OUT_OF_RANGE,
    PATTERN_MISMATCH,
    TOO_LONG,
    TOO_SHORT,
    TYPE_ERROR,
    UNKNOWN_REFERENCE,
    sort_issues,
)

CSV_MALFORMED = register(
    "csv-malformed",
    Severity.ERROR,
    "CSV 行的列数与表头不符，或引号没有闭合",
    "用表格软件打开检查这一行：值里含逗号时整个值要加英文双引号；不要手工删改分隔符。",
)
MISSING_COLUMN = register(
    "missing-column",
    Severity.ERROR,
    "CSV 缺少数据字典要求的列",
    "在表头中补上这一列（列名用英文字段名，见数据字典）。",
)
UNKNOWN_COLUMN = register(
    "unknown-column",
    Severity.ERROR,
    "CSV 有数据字典中没有的列",
    "检查列名拼写，或删除这一列；事件记录不得包含姓名、电话、住址等个人信息。",
)
DUPLICATE_COLUMN = register(
    "duplicate-column", Severity.ERROR, "CSV 表头中同一列名出现了两次", "删除或改名重复的列。"
)
CASE_CLOSED_INCOMPLETE = register(
    "case-closed-incomplete",
    Severity.ERROR,
    "状态为“已办结”的事件缺少办结时间或解决层级",
    "补填 closed_at（办结时间）和 resolved_level（网格/社区/镇街/区级），或把状态改为实际状态。",
)
GRID_COMMUNITY_MISMATCH = register(
    "grid-community-mismatch",
    Severity.ERROR,
    "事件的网格不属于所填的村社",
    "核对 community 和 grid：网格必须是该村社名下的网格（见 data/communities/ 中该村社的 grids）。",
)

DEFAULT_CAP = 20

# (earlier, later): the later time may not precede the earlier one.
CASE_TIME_ORDER: tuple[tuple[str, str], ...] = (
    ("reported_at", "accepted_at"),
    ("accepted_at", "dispatched_at"),
    ("reported_at", "due_at"),
    ("reported_at", "closed_at"),
)
CLOSED_STATUS = "已办结"

_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


@dataclass
class _Check:
    """One problem a row can have.

    ``predicate`` is evaluated by the streaming pass over the whole file (keep it cheap; rows
    with any true predicate are kept); ``post``, when set, refines it on the kept rows only, in
    terms of the raw column names (e.g. to tell an impossible date from a badly written one).
    """

    kind: IssueKind
    field: str  # the column the issue points at
    predicate: str
    columns: tuple[str, ...]  # values shown in the message
    message: Callable[[dict[str, Any]], str]
    post: str | None = None


class _Columns:
    """SQL expressions for a column's text and its typed value, as the streaming pass sees them.

    ``reader_types`` are the types DuckDB's CSV reader already cast the columns to (values
    that fail the cast become rejects with their line); other columns are text.
    """

    def __init__(self, text: Callable[[str], str], reader_types: dict[str, str] | None = None):
        self.text = text
        self.reader_types = reader_types or {}
        self.typed: dict[tuple[str, str], str] = {}  # (column, SQL type) → alias

    def is_text(self, name: str) -> bool:
        return self.reader_types.get(name, "VARCHAR") == "VARCHAR"

    def cast(self, name: str, target: str) -> str:
        if self.reader_types.get(name) == target:
            return self.text(name)
        alias = f"__{target.lower()}_{len(self.typed)}"
        return self.typed.setdefault((name, target), alias)

    def missing(self, name: str) -> str:
        v = self.text(name)
        # as Frictionless: only an empty value is missing (the CSV reader reads it as NULL)
        return f"({v} IS NULL OR {v} = '')" if self.is_text(name) else f"{v} IS NULL"

    def definitions(self) -> list[str]:
        return [
            f"TRY_CAST({self.text(name)} AS {target}) AS {alias}"
            for (name, target), alias in self.typed.items()
        ]


def reader_type(field: FieldRule) -> str:
    """The DuckDB type the CSV reader casts a field to; bad values become rejects with their line."""
    if field.enum and field.type == "string":
        return "ENUM(" + ", ".join(_lit(v) for v in field.enum) + ")"
    return {
        "datetime": "TIMESTAMP",
        "date": "DATE",
        "integer": "BIGINT",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
    }.get(field.type, "VARCHAR")


def _field_checks(rule: FieldRule, cols: _Columns) -> list[_Check]:
    name, label = rule.name, f"“{rule.name}”（{rule.title}）"
    v = cols.text(name)
    raw = _q(name)  # the same value in the kept rows
    present = f"({v} IS NOT NULL AND {v} <> '')"
    checks: list[_Check] = []
    if rule.required:
        checks.append(
            _Check(
                MISSING_VALUE,
                name,
                cols.missing(name),
                (),
                lambda r, label=label: f"必填字段{label}没有填写。",
            )
        )
    by_reader = not cols.is_text(name)  # the CSV reader cast it: failures are rejects
    if by_reader:
        pass
    elif rule.type in ("datetime", "date"):
        target = "TIMESTAMP" if rule.type == "datetime" else "DATE"
        shape = _ISO_DATETIME if rule.type == "datetime" else _ISO_DATE
        typed = cols.cast(name, target)
        suspicious = f"{present} AND ({typed} IS NULL OR substr({v}, 5, 1) <> '-' OR substr({v}, 8, 1) <> '-')"
        example = "2026-03-01 08:30:00" if rule.type == "datetime" else "2026-03-01"
        checks.append(
            _Check(
                INVALID_DATE,
                name,
                suspicious,
                (name,),
                lambda r, label=label, name=name, example=example: (
                    f"{label}应写成 {example} 的格式，这里是“{r[name]}”。"
                ),
                post=f"NOT regexp_full_match({raw}, {_lit(shape)})",
            )
        )
        checks.append(
            _Check(
                IMPOSSIBLE_DATE,
                name,
                suspicious,
                (name,),
                lambda r, label=label, name=name: f"{label}的日期“{r[name]}”不存在。",
                post=f"regexp_full_match({raw}, {_lit(shape)})",
            )
        )
    if rule.type in ("integer", "number"):
        target = "BIGINT" if rule.type == "integer" else "DOUBLE"
        typed = cols.cast(name, target)
        word = "整数" if rule.type == "integer" else "数字"
        if not by_reader:
            checks.append(
                _Check(
                    TYPE_ERROR,
                    name,
                    f"{present} AND {typed} IS NULL",
                    (name,),
                    lambda r, label=label, name=name, word=word: (
                        f"{label}应为{word}，这里是“{r[name]}”。"
                    ),
                )
            )
        bounds = []
        if rule.minimum is not None:
            bounds.append(f"{typed} < {rule.minimum}")
        if rule.maximum is not None:
            bounds.append(f"{typed} > {rule.maximum}")
        if bounds:
            checks.append(
                _Check(
                    OUT_OF_RANGE,
                    name,
                    " OR ".join(bounds),
                    (name,),
                    lambda r, label=label, name=name, lo=rule.minimum, hi=rule.maximum: (
                        f"{label}是 {r[name]}，超出允许范围"
                        f"（{'' if lo is None else lo}–{'' if hi is None else hi}）。"
                    ),
                )
            )
    elif rule.type == "boolean" and not by_reader:
        allowed = (*rule.true_values, *rule.false_values)
        checks.append(
            _Check(
                TYPE_ERROR,
                name,
                f"{present} AND {v} NOT IN ({', '.join(map(_lit, allowed))})",
                (name,),
                lambda r, label=label, name=name: f"{label}应为 true 或 false，这里是“{r[name]}”。",
            )
        )
    if rule.enum and not by_reader:
        options = "、".join(rule.enum)
        checks.append(
            _Check(
                NOT_IN_ENUM,
                name,
                f"{v} NOT IN ({', '.join(map(_lit, rule.enum))})",
                (name,),
                lambda r, label=label, name=name, options=options: (
                    f"{label}的值“{r[name]}”不在可选项中（可选：{options}）。"
                ),
            )
        )
    if rule.pattern and not by_reader:
        checks.append(
            _Check(
                PATTERN_MISMATCH,
                name,
                f"NOT regexp_full_match({v}, {_lit(rule.pattern)})",
                (name,),
                lambda r, label=label, name=name, p=rule.pattern: (
                    f"{label}的值“{r[name]}”格式不对（应符合 {p}）。"
                ),
            )
        )
    if rule.max_length is not None and not by_reader:
        checks.append(
            _Check(
                TOO_LONG,
                name,
                f"length({v}) > {int(rule.max_length)}",
                (name,),
                lambda r, label=label, n=rule.max_length, name=name: (
                    f"{label}有 {len(r[name])} 个字，超过上限 {n} 个字。"
                ),
            )
        )
    if rule.min_length is not None and not by_reader:
        checks.append(
            _Check(
                TOO_SHORT,
                name,
                f"{present} AND length({v}) < {int(rule.min_length)}",
                (name,),
                lambda r, label=label, n=rule.min_length, name=name: (
                    f"{label}只有 {len(r[name])} 个字，至少应有 {n} 个字。"
                ),
            )
        )
    return checks


def compile_checks(rule: TableRule, columns: set[str], cols: _Columns) -> list[_Check]:
    """Every row-level predicate of the cases schema, plus the domain rules of a case's life."""
    checks: list[_Check] = []
    for field in rule.fields.values():
        if field.name in columns:
            checks.extend(_field_checks(field, cols))

    titles = {name: f.title for name, f in rule.fields.items()}
    for earlier, later in CASE_TIME_ORDER:
        if earlier in columns and later in columns:
            checks.append(
                _Check(
                    DATE_ORDER,
                    later,
                    f"{cols.cast(later, 'TIMESTAMP')} < {cols.cast(earlier, 'TIMESTAMP')}",
                    (earlier, later),
                    lambda r, e=earlier, l_=later: (
                        f"“{l_}”（{titles[l_]}，{r[l_]}）早于“{e}”（{titles[e]}，{r[e]}）。"
                    ),
                )
            )
    if "status" in columns:
        status = cols.text("status")
        for name, what in (("closed_at", "办结时间"), ("resolved_level", "解决层级")):
            if name in columns:
                checks.append(
                    _Check(
                        CASE_CLOSED_INCOMPLETE,
                        name,
                        f"{status} = {_lit(CLOSED_STATUS)} AND {cols.missing(name)}",
                        ("id",) if "id" in columns else (),
                        lambda r, what=what, name=name: (
                            f"事件{('“' + str(r['id']) + '”') if r.get('id') else ''}已办结，"
                            f"却没有填写 {name}（{what}）。"
                        ),
                    )
                )
    return checks


# ---------------------------------------------------------------------------- files


def _sniff_encoding(path: Path, file: str) -> tuple[list[Issue], bool]:
    """BOM and GBK detection on the first megabyte; (issues, can_continue)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    if not head:
        return [Issue.of(EMPTY_FILE, file, None, "", "文件是空的（连表头都没有）。")], False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return [
            Issue.of(
                NOT_UTF8, file, 1, "", "文件是 UTF-16（Excel“Unicode 文本”）编码，不是 UTF-8。"
            )
        ], False
    issues: list[Issue] = []
    if head.startswith(b"\xef\xbb\xbf"):
        issues.append(
            Issue.of(BOM, file, 1, "", "CSV 开头有 UTF-8 BOM（Excel“CSV UTF-8”格式会加上）。")
        )
        head = head[3:]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the chunk's end
            issues.append(not_utf8_issue(head, exc.start, file))
            return issues, False
    return issues, True


def _scan_csv(path: Path, file: str) -> tuple[Issue | None, int]:
    """One pass over the bytes: the first byte that is not UTF-8 (as an issue) and the line count.

    DuckDB's reader does not reliably refuse every invalid byte, so the encoding is checked
    here; it runs in a thread beside DuckDB's scan.
    """
    lines, last, tail = 0, b"\n", b""
    with path.open("rb") as handle:
        while chunk := handle.read(16 << 20):
            last = chunk[-1:]
            data = tail + chunk
            try:
                data.decode("utf-8")
                tail = b""
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data":
                    tail, data = data[exc.start :], data[: exc.start]
                else:
                    return not_utf8_issue(data, exc.start, file, line_offset=lines), 0
            lines += data.count(b"\n")
    if tail:
        return not_utf8_issue(tail, 0, file, line_offset=lines), 0
    return None, lines + (0 if last == b"\n" else 1)


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(16 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def _first_bad_utf8(path: Path, file: str) -> Issue | None:
    return _scan_csv(path, file)[0]


def _header(path: Path) -> list[str]:
    return _head_rows(path)[0]


def _head_rows(path: Path) -> tuple[list[str], list[str]]:
    """The header and the first data row."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        return next(reader, []), next(reader, [])


def _timestamp_format(header: list[str], first: list[str], rule: TableRule) -> str:
    """The one written form of date-times the reader is to accept, from the first row.

    Strict on purpose: a value written any other way (2026/01/05 08:00, no seconds, a time
    zone) fails the cast, and the file is then checked value by value in text mode, where
    every ISO 8601 form is accepted and every other form is reported.
    """
    for name, value in zip(header, first, strict=False):
        field = rule.fields.get(name.strip())
        if field is not None and field.type == "datetime" and value.strip():
            return "%Y-%m-%dT%H:%M:%S" if "T" in value else "%Y-%m-%d %H:%M:%S"
    return "%Y-%m-%d %H:%M:%S"


class _LineMap:
    """Maps DuckDB's record numbers and row numbers of a CSV file to physical line numbers.

    DuckDB numbers records (the header is record 1); a record spans several physical lines when
    a quoted value holds a line break. When the file's line count equals its record count the
    two agree; otherwise the wanted records are located by reading the file with ``csv``.
    """

    def __init__(self, path: Path, records: int, lines: int):
        self.path = path
        self.physical: dict[int, int] | None = None
        if lines != records:
            self.physical = {}

    @staticmethod
    def record_of_row(rn: int, skipped_records: list[int]) -> int:
        """The record number of the rn-th row read (1-based) when ``skipped_records`` were left out."""
        record = rn + 1
        skipped = 0
        while True:
            now = bisect.bisect_right(skipped_records, record)
            if now == skipped:
                return record
            record += now - skipped
            skipped = now

    def lines(self, records: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(records))
        if self.physical is None:
            return {r: r for r in wanted}
        missing = [r for r in wanted if r not in self.physical]
        if missing:
            targets = set(missing)
            with self.path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
                reader = csv.reader(handle)
                record = 0
                start = 1
                for _ in reader:
                    record += 1
                    if record in targets:
                        self.physical[record] = start
                        targets.discard(record)
                        if not targets:
                            break
                    start = reader.line_num + 1
        return {r: self.physical.get(r, r) for r in wanted}


_REJECT_MESSAGES = {
    "MISSING COLUMNS": "这一行的列数少于表头（{detail}）；可能是行尾缺了逗号，或换行把一行拆成了两行。",
    "TOO MANY COLUMNS": "这一行的列数多于表头（{detail}）；值里含逗号时请给整个值加英文双引号。",
    "UNQUOTED VALUE": "这一行的引号用法不对（{detail}）。",
    "LINE SIZE OVER MAXIMUM": "这一行太长，可能是引号没有闭合。",
    "INVALID UNICODE": "这一行有不是 UTF-8 的字节。",
    "CAST": "这一行无法读取（{detail}）。",
}


def check_case_files(
    files: list[Path],
    rule: TableRule,
    *,
    communities: set[str] | None,
    grids: dict[str, str | None] | None,
    root: Path,
    cap: int = DEFAULT_CAP,
    memory_limit: str | None = None,
    threads: int | None = None,
    cache: ResultCache | None = None,
) -> list[Issue]:
    """Check case files against the ``cases`` schema; at most ``cap`` issues per code and file.

    ``communities`` and ``grids`` (id → community) are the known ids; ``None`` skips that
    reference check (when a YAML file that defines them could not be read).
    """
    import duckdb

    issues: list[Issue] = []
    # Each file's issues are kept in the result cache under a key made of the file's bytes and
    # name, the reference ids, the schema rule and this module's source: an unchanged file with
    # unchanged references is not read again (see generator/cache.py).
    keys: dict[Path, str] = {}
    if cache is not None and cache.enabled:
        from generator import cache as result_cache

        refs = result_cache.make_key(
            sorted(communities) if communities is not None else None,
            sorted(grids.items(), key=lambda kv: kv[0]) if grids is not None else None,
        )
        common = (result_cache.source_digest(sys.modules[__name__]), duckdb.__version__, repr(rule), cap, refs)
        for path, digest in zip(files, result_cache.file_digests(files, cache.folder.parent), strict=True):
            keys[path] = result_cache.make_key(*common, rel(path, root), digest)
        cached = {path: cache.get(key) for path, key in keys.items()}
        files = [path for path in files if cached[path] is None]
        for found in cached.values():
            if found is not None:
                issues.extend(found)
        if not files:
            return sort_issues(issues)
    with tempfile.TemporaryDirectory(prefix="gongzhi-cases-") as spill:
        con = duckdb.connect(
            config={
                "threads": threads or os.cpu_count() or 2,
                "memory_limit": memory_limit or os.environ.get("GONGZHI_DUCKDB_MEMORY", "1GB"),
                "temp_directory": spill,
                "preserve_insertion_order": True,
            }
        )
        try:
            # the known ids as small tables, from list parameters (one statement each)
            con.execute(
                "CREATE TEMP TABLE communities_ref AS SELECT unnest($1::VARCHAR[]) AS id",
                [sorted(communities or ())],
            )
            grids_known = grids is not None
            grids = grids or {}
            grid_ids = sorted(grids)
            con.execute(
                "CREATE TEMP TABLE grids_ref AS "
                "SELECT unnest($1::VARCHAR[]) AS id, unnest($2::VARCHAR[]) AS community",
                [grid_ids, [grids[g] for g in grid_ids]],
            )
            for path in files:
                file = rel(path, root)
                try:
                    found = _check_file(con, path, file, rule, cap, communities is not None, grids_known)
                except duckdb.Error as exc:  # a file the reader cannot take; never a traceback
                    found = [_duckdb_failure(path, file, exc)]
                except OSError as exc:
                    found = [Issue.of(UNREADABLE, file, None, "", f"无法读取：{exc.strerror or exc}。")]
                    keys.pop(path, None)  # a passing read error is not a result to keep
                issues.extend(found)
                if path in keys:
                    cache.put(keys[path], found)
        finally:
            con.close()
    return sort_issues(issues)


def _duckdb_failure(path: Path, file: str, exc: Exception) -> Issue:
    text = str(exc)
    if "unicode" in text.lower() or "utf-8" in text.lower() or "utf8" in text.lower():
        found = _first_bad_utf8(path, file) if path.suffix.lower() == ".csv" else None
        if found is not None:
            return found
    first = first_line(exc)
    what = (
        "Parquet 文件损坏或不是 Parquet 格式"
        if path.suffix.lower() == ".parquet"
        else "CSV 文件无法解析"
    )
    return Issue.of(UNREADABLE, file, None, "", f"{what}（DuckDB：{first[:300]}）。")


def _check_file(
    con: Any,
    path: Path,
    file: str,
    rule: TableRule,
    cap: int,
    check_communities: bool = True,
    check_grids: bool = True,
    text_mode: bool = False,
) -> list[Issue]:
    """Check one case file.

    The fast path lets DuckDB's CSV reader cast dates and choices while it parses; a value that
    does not cast is rejected with its line. When any value was rejected that way the file is
    checked again with every column read as text (``text_mode``), so that each bad row still
    gets all of its problems reported, not only the first one the reader met.
    """
    is_csv = path.suffix.lower() == ".csv"
    issues: list[Issue] = []
    if is_csv:
        found, ok = _sniff_encoding(path, file)
        issues.extend(found)
        if not ok:
            return issues
        raw_header, first_row = _head_rows(path)
        header = [h.strip() for h in raw_header]
    else:
        header = [
            row[0]
            for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        ]

    columns, header_issues = _check_header(header, rule, file, is_csv)
    issues.extend(header_issues)
    if any(i.code == DUPLICATE_COLUMN.code for i in header_issues) or not header or "" in header:
        return issues  # the reader needs one distinct name a column

    if is_csv:
        reader_types = {
            h: reader_type(rule.fields[h]) if h in rule.fields and not text_mode else "VARCHAR"
            for h in header
        }
        spec = "{" + ", ".join(f"{_lit(h)}: {_lit(t)}" for h, t in reader_types.items()) + "}"
        source = (
            f"read_csv({_lit(str(path))}, header=true, auto_detect=false, columns={spec}, delim=',', "
            f"quote='\"', escape='\"', store_rejects=true, rejects_table='rejects', rejects_scan='rejects_scan', "
            f"max_line_size=10000000, dateformat='%Y-%m-%d', "
            f"timestampformat={_lit(_timestamp_format(header, first_row, rule))})"
        )
        numbered = f"SELECT row_number() OVER () AS __rn, * FROM {source}"
        # the key pass reads text only, so that only malformed rows are left out (no casts)
        text_spec = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
        source_text = (
            f"read_csv({_lit(str(path))}, header=true, auto_detect=false, columns={text_spec}, "
            f"delim=',', quote='\"', escape='\"', ignore_errors=true, max_line_size=10000000)"
        )
        numbered_text = f"SELECT row_number() OVER () AS __rn, * FROM {source_text}"
    else:
        source_text = f"read_parquet({_lit(str(path))}, file_row_number=true)"
        source = f"read_parquet({_lit(str(path))})"
        numbered = f"SELECT file_row_number + 1 AS __rn, * FROM {source_text}"
        reader_types = {}
        numbered_text = numbered

    if is_csv:

        def text(name: str) -> str:
            return f"src.{_q(name)}"
    else:

        def text(name: str) -> str:
            return f"CAST(src.{_q(name)} AS VARCHAR)"

    cols = _Columns(text, reader_types)
    col = text
    checks = compile_checks(rule, columns, cols)
    # references: membership tests against the small id tables (hash MARK joins built on them)
    if "community" in columns and check_communities:
        checks.append(
            _Check(
                UNKNOWN_REFERENCE,
                "community",
                f"{col('community')} NOT IN (SELECT id FROM communities_ref)",
                ("community",),
                lambda r: f"未找到村社“{r['community']}”。",
            )
        )
    if "grid" in columns and check_grids:
        if "community" in columns:
            grid_problem = (
                f"({col('grid')}, {col('community')}) NOT IN (SELECT id, community FROM grids_ref)"
            )
        else:
            grid_problem = f"{col('grid')} NOT IN (SELECT id FROM grids_ref)"
        checks.append(
            _Check(
                UNKNOWN_REFERENCE,
                "grid",
                grid_problem,
                ("grid",),
                lambda r: f"未找到网格“{r['grid']}”。",
                post="__grid_community IS NULL",
            )
        )
        if "community" in columns:
            checks.append(
                _Check(
                    GRID_COMMUNITY_MISMATCH,
                    "grid",
                    grid_problem,
                    ("grid", "community", "__grid_community"),
                    lambda r: (
                        f"网格“{r['grid']}”属于村社“{r['__grid_community']}”，不是“{r['community']}”。"
                    ),
                    post=f"__grid_community IS NOT NULL AND __grid_community <> {_q('community')}",
                )
            )

    predicates: list[str] = []
    for check in checks:
        if check.predicate not in predicates:
            predicates.append(check.predicate)
    typed_defs = cols.definitions()
    typed_sql = f"{', ' if typed_defs else ''}{', '.join(typed_defs)}"
    pk = rule.primary_key
    has_key = bool(pk) and all(k in columns for k in pk)
    keys = ", ".join(col(k) for k in pk) if has_key else ""
    not_null = " AND ".join(f"{col(k)} IS NOT NULL" for k in pk) if has_key else "false"
    for table in ("flagged", "rejects", "rejects_scan", "row_keys"):
        con.execute(f"DROP TABLE IF EXISTS {table}")

    # Pass 1, in parallel and in no particular order: for every row, whether it has any problem
    # and a hash of its key. A valid file is done after this pass.
    any_problem = " OR ".join(f"coalesce({p}, false)" for p in predicates) or "false"
    con.execute(
        f"CREATE TEMP TABLE row_keys AS SELECT "
        f"{f'hash({keys})' if has_key else 'NULL::UBIGINT'} AS __h, ({not_null}) AS __keyed, "
        f"({any_problem}) AS __bad FROM (SELECT *{typed_sql} FROM {source} src) src"
    )

    rejected: list[tuple[int, str, str, str]] = []  # line, column, DuckDB error type, message
    if is_csv:
        rejected = [
            (int(line), str(column or ""), str(kind), str(message))
            for line, column, kind, message in con.execute(
                "SELECT line, column_name, error_type, error_message FROM rejects "
                "ORDER BY line, column_idx"
            ).fetchall()
        ]
        if any("UNICODE" in r[2].upper() for r in rejected):
            # not UTF-8 after the first megabyte: say where, as GBK when it is; rows are unreliable
            con.execute("DROP TABLE IF EXISTS row_keys")
            bad = _first_bad_utf8(path, file)
            if bad is not None:
                return [*issues, bad]
        if not text_mode and any(r[2].upper() == "CAST" for r in rejected):
            con.execute("DROP TABLE IF EXISTS row_keys")
            return _check_file(
                con, path, file, rule, cap, check_communities, check_grids, text_mode=True
            )

    accepted, bad_rows, hashed_duplicates = con.execute(
        "SELECT count(*), count_if(__bad), "
        "count(*) FILTER (WHERE __keyed) - count(DISTINCT __h) FILTER (WHERE __keyed) FROM row_keys"
    ).fetchone()
    con.execute("DROP TABLE IF EXISTS row_keys")

    totals: dict[str, int] = {}
    pending: list[tuple[_Check, list[dict[str, Any]]]] = []
    if bad_rows:
        # Pass 2, in file order, only for a file with problems: the rows, numbered, with one bit
        # per distinct predicate (BIGINT masks of 62 bits)
        bit_of = {p: i for i, p in enumerate(predicates)}
        masks = []
        for start in range(0, len(predicates), 62):
            terms = [
                f"CASE WHEN {p} THEN {1 << (i - start)} ELSE 0 END"
                for i, p in enumerate(predicates[start : start + 62], start=start)
            ]
            masks.append(f"({' + '.join(terms)})::BIGINT AS __m{start // 62}")
        kept = [f"{col(c)} AS {_q(c)}" for c in sorted(columns)]
        inner = f"SELECT *{typed_sql} FROM ({numbered}) src"
        any_flag = " OR ".join(f"__m{i} <> 0" for i in range(len(masks))) or "false"
        con.execute(
            f"CREATE TEMP TABLE flagged AS SELECT * FROM (SELECT src.__rn AS __rn, "
            f"{', '.join(kept + masks)} FROM ({inner}) src) WHERE {any_flag}"
        )
        if "grid" in columns and check_grids:  # the community of each flagged row's grid
            con.execute("ALTER TABLE flagged ADD COLUMN __grid_community VARCHAR")
            con.execute(
                "UPDATE flagged SET __grid_community = grids_ref.community FROM grids_ref "
                "WHERE grids_ref.id = flagged.grid"
            )

        def flag(check: _Check) -> str:
            bit = bit_of[check.predicate]
            test = f"((__m{bit // 62} >> {bit % 62}) & 1) = 1"
            return f"({test} AND coalesce({check.post}, false))" if check.post else test

        counts = con.execute(
            "SELECT " + ", ".join(f"count_if({flag(c)})" for c in checks) + " FROM flagged"
        ).fetchone()
        for check, count in zip(checks, counts, strict=True):
            if not count:
                continue
            totals[check.kind.code] = totals.get(check.kind.code, 0) + int(count)
            names = ["__rn", *check.columns]
            names_sql = ", ".join(_q(n) for n in names)
            rows = con.execute(
                f"SELECT {names_sql} FROM flagged WHERE {flag(check)} ORDER BY __rn LIMIT {int(cap)}"
            ).fetchall()
            pending.append((check, [dict(zip(names, row, strict=True)) for row in rows]))
        con.execute("DROP TABLE IF EXISTS flagged")

    # duplicate keys: hashes can collide, so the real duplicates are counted and listed apart
    dup_total = 0
    if hashed_duplicates:
        dup_total = con.execute(
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {source_text} src "
            f"WHERE {not_null} GROUP BY {keys} HAVING n > 1)"
        ).fetchone()[0]
    if dup_total:
        totals[DUPLICATE_ID.code] = int(dup_total)
        dup_rows = con.execute(
            f"SELECT concat_ws('、', {keys}) AS key, list(src.__rn ORDER BY src.__rn) AS rns "
            f"FROM ({numbered_text}) src WHERE {not_null} GROUP BY {keys} HAVING count(*) > 1 "
            f"ORDER BY rns[2] LIMIT {int(cap)}"
        ).fetchall()
        rows = [
            {"__rn": rn, "key": key, "first_rn": rns[0], "__text_rn": True}
            for key, rns in dup_rows
            for rn in rns[1:]
        ]
        rows.sort(key=lambda r: r["__rn"])
        pending.append((_Check(DUPLICATE_ID, pk[-1], "", (), lambda r: ""), rows[:cap]))

    # row numbers → physical lines (CSV); Parquet issues carry the row number
    typed_rns = {int(r["__rn"]) for _, rows in pending for r in rows if "__text_rn" not in r}
    text_rns = {int(r["__rn"]) for _, rows in pending for r in rows if "__text_rn" in r}
    text_rns |= {int(r["first_rn"]) for _, rows in pending for r in rows if "first_rn" in r}
    line_of: dict[int, int] = {rn: rn for rn in typed_rns}
    text_line_of: dict[int, int] = {rn: rn for rn in text_rns}
    reject_lines: dict[int, int] = {}
    if is_csv and (typed_rns or text_rns or rejected):
        all_skipped = sorted({r[0] for r in rejected})
        malformed = sorted({r[0] for r in rejected if r[2].upper() != "CAST"})
        line_map = _LineMap(path, int(accepted) + len(malformed) + 1, _count_lines(path))
        shown_rejects = all_skipped[: cap * 4]
        typed_records = {rn: line_map.record_of_row(rn, all_skipped) for rn in typed_rns}
        text_records = {rn: line_map.record_of_row(rn, malformed) for rn in text_rns}
        physical = line_map.lines([*typed_records.values(), *text_records.values(), *shown_rejects])
        line_of = {rn: physical[record] for rn, record in typed_records.items()}
        text_line_of = {rn: physical[record] for rn, record in text_records.items()}
        reject_lines = {record: physical[record] for record in shown_rejects}

    found: dict[str, list[Issue]] = {}
    for check, rows in pending:
        for row in rows:
            rn = int(row["__rn"])
            line = text_line_of[rn] if "__text_rn" in row else line_of[rn]
            where = "" if is_csv else f"第 {row['__rn']} 行："
            if check.kind is DUPLICATE_ID:
                first = text_line_of[int(row["first_rn"])]
                issue = Issue.of(
                    DUPLICATE_ID,
                    file,
                    line,
                    check.field,
                    f"{where}事件编号“{row['key']}”重复：第 {first} 行已经用过。",
                    hint=f"同一事件只保留一行；两处分别在第 {first} 行和第 {line} 行。",
                )
            else:
                issue = Issue.of(check.kind, file, line, check.field, where + check.message(row))
            found.setdefault(check.kind.code, []).append(issue)
    encoding_reported = False
    malformed_lines: set[int] = set()
    structural = {r[0] for r in rejected if r[2].upper() != "CAST"}
    for record, column, kind, message in rejected:
        if kind.upper() == "CAST" and record in structural:
            continue  # a malformed line: its columns are shifted, one message says so
        if kind.upper() == "CAST" and column in rule.fields:
            value = _rejected_value(message)
            code, text = _cast_failure(rule.fields[column], value)
            totals[code.code] = totals.get(code.code, 0) + 1
            if record in reject_lines:
                found.setdefault(code.code, []).append(
                    Issue.of(code, file, reject_lines[record], column, text)
                )
            continue
        code = NOT_UTF8 if "UNICODE" in kind.upper() else CSV_MALFORMED
        if code is NOT_UTF8:
            if not encoding_reported:
                # one rich message (GBK recognised, the line as GBK) for the first bad byte
                first = _first_bad_utf8(path, file)
                if first is not None:
                    found.setdefault(code.code, []).append(first)
                    totals[code.code] = totals.get(code.code, 0) + 1
                    encoding_reported = True
            continue
        if record in malformed_lines:  # one message per malformed line
            continue
        malformed_lines.add(record)
        totals[code.code] = totals.get(code.code, 0) + 1
        if record in reject_lines:
            text = _REJECT_MESSAGES.get(kind.upper(), "这一行无法读取（{detail}）。").format(
                detail=_columns_detail(message)
            )
            found.setdefault(code.code, []).append(
                Issue.of(code, file, reject_lines[record], "", text)
            )

    for code, listed in found.items():
        listed.sort(key=lambda issue: issue.line or 0)
        kept = listed[:cap]
        issues.extend(kept)
        more = totals.get(code, len(listed)) - len(kept)
        if more > 0:
            issues.append(
                Issue(
                    code,
                    kept[0].severity,
                    file,
                    None,
                    None,
                    "",
                    f"另有 {more:,} 处同类问题未逐一列出（本文件共 {totals[code]:,} 处）。",
                    "先按上面列出的几处找出原因（往往是导出方式或同一列的格式问题），改正后再次校验。",
                )
            )
    return issues


def _rejected_value(message: str) -> str:
    match = re.search(r'Could not convert string "(.*)" to ', message, re.S)
    return match.group(1) if match else ""


def _cast_failure(field: FieldRule, value: str) -> tuple[IssueKind, str]:
    """The issue for a value DuckDB's reader could not cast to the field's type."""
    label = f"“{field.name}”（{field.title}）"
    if field.enum:
        options = "、".join(field.enum)
        return NOT_IN_ENUM, f"{label}的值“{value}”不在可选项中（可选：{options}）。"
    if field.type in ("datetime", "date"):
        shape = _ISO_DATETIME if field.type == "datetime" else _ISO_DATE
        if re.fullmatch(shape, value):
            return IMPOSSIBLE_DATE, f"{label}的日期“{value}”不存在。"
        example = "2026-03-01 08:30:00" if field.type == "datetime" else "2026-03-01"
        return INVALID_DATE, f"{label}应写成 {example} 的格式，这里是“{value}”。"
    if field.type == "boolean":
        return TYPE_ERROR, f"{label}应为 true 或 false，这里是“{value}”。"
    word = "整数" if field.type == "integer" else "数字"
    return TYPE_ERROR, f"{label}应为{word}，这里是“{value}”。"


def _columns_detail(message: str) -> str:
    match = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if match:
        return f"表头有 {match.group(1)} 列，这一行有 {match.group(2)} 列"
    return message.strip().splitlines()[0][:200] if message.strip() else "原因不明"


def _check_header(
    header: list[str], rule: TableRule, file: str, is_csv: bool
) -> tuple[set[str], list[Issue]]:
    issues: list[Issue] = []
    line = 1 if is_csv else None
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if name in seen:
            issues.append(
                Issue.of(
                    DUPLICATE_COLUMN, file, line, name, f"第 {position} 列“{name}”与前面的列同名。"
                )
            )
        seen.add(name)
    known = set(rule.fields)
    for position, name in enumerate(header, start=1):
        if not name:
            issues.append(
                Issue.of(
                    UNKNOWN_COLUMN, file, line, "", f"第 {position} 列没有列名（表头中两个逗号之间是空的，或行尾多了逗号）。",
                    hint="删除这一列，或在第 1 行写上它的列名。",
                )
            )
        elif name not in known:
            guess = did_you_mean(name, sorted(known - seen))
            hint = f"是不是“{guess}”？" if guess else None
            issues.append(
                Issue.of(
                    UNKNOWN_COLUMN,
                    file,
                    line,
                    name,
                    f"第 {position} 列“{name}”不是事件记录的字段。",
                    hint=hint,
                )
            )
    for name, field in rule.fields.items():
        if field.required and name not in seen:
            issues.append(
                Issue.of(
                    MISSING_COLUMN, file, line, name, f"缺少必需的列“{name}”（{field.title}）。"
                )
            )
    return seen & known, issues
