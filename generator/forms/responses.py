"""Read an exported responses CSV, check every row, and compute the published aggregates.

The CSV is what ``gongzhi intake export`` writes (columns: ``rules.response_columns``) or what
staff download from an external form service and rename to the same columns. Excel on Chinese
Windows saves GBK, others UTF-8 with or without BOM: the encoding is detected. Every problem is
an ``Issue`` with the physical line number. Aggregates never contain free text or personal
fields, and any group of fewer than ``SUPPRESS_BELOW`` responses is published only as "fewer
than 5".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from generator.forms.model import (
    MULTI_SEPARATOR,
    SUPPRESS_BELOW,
    ChoiceCount,
    Field,
    FieldKind,
    FieldResult,
    Form,
    FormResults,
    ResultGroup,
)
from generator.forms.rules import (
    RESPONSE_ID,
    SUBMITTED_AT,
    check_field,
    normalize,
    response_columns,
)
from generator.issues import Issue, Severity, register

E, W = Severity.ERROR, Severity.WARNING
ENCODING = register(
    "form-response-encoding", E, "回复文件的编码无法识别", "另存为 UTF-8 或 GBK 编码的 CSV 文件"
)
BAD_HEADER = register(
    "form-response-header",
    E,
    "回复文件的表头与表单不符",
    "表头须为 gongzhi forms schema 列出的列名（也接受字段标签）",
)
BAD_ROW = register(
    "form-response-row",
    E,
    "回复文件某行的列数不对",
    "检查该行是否多了或少了逗号，含逗号的内容要加英文双引号",
)
BAD_VALUE = register(
    "form-response-invalid", E, "某条回复的答案不符合表单规则", "更正或删除该条回复后重新导入"
)
DUPLICATE = register(
    "form-response-duplicate",
    E,
    "回复编号重复",
    "每条回复的 response_id 须唯一；重复导出的行请删除",
)
BAD_TIMESTAMP = register(
    "form-response-timestamp",
    E,
    "提交时间不是合法的日期时间",
    "写作 2026-11-28T09:30:00 或 2026-11-28 09:30:00",
)
EMPTY = register("form-response-empty", W, "回复文件中没有任何回复", "确认导出的文件是否正确")


@dataclass
class Responses:
    """The rows of a responses file that passed every check, and what was found."""

    file: str
    encoding: str  # "UTF-8", "UTF-8-BOM" or "GBK"
    rows: list[dict[str, str | list[str]]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    rejected: int = 0  # rows with at least one error

    @property
    def ok(self) -> bool:
        return not any(i.severity is Severity.ERROR for i in self.issues)


def decode(data: bytes) -> tuple[str, str] | None:
    """The text and the name of its encoding, or None if it is neither UTF-8 nor GBK."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8-BOM"
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GBK"  # GB18030 is the superset Excel's "GBK" files fit
    except UnicodeDecodeError:
        return None


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def unneutralise(cell: str) -> str:
    """Undo the apostrophe ``gongzhi intake export`` puts before cells a spreadsheet would run."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_TRIGGERS:
        return cell[1:]
    return cell


def _parse_timestamp(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.strip().replace("/", "-"))
    except ValueError:
        return None


def read_responses(form: Form, path: Path, file: str | None = None) -> Responses:
    """Check every row of ``path`` against ``form``. Raises OSError if it cannot be read."""
    file = file or path.as_posix()
    decoded = decode(path.read_bytes())
    if decoded is None:
        result = Responses(file, "?")
        result.issues.append(Issue.of(ENCODING, file, None, "", "文件既不是 UTF-8 也不是 GBK 编码"))
        return result
    text, encoding = decoded
    result = Responses(file, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        result.issues.append(Issue.of(EMPTY, file, None, "", "文件是空的"))
        return result
    except csv.Error as exc:
        result.issues.append(Issue.of(BAD_ROW, file, 1, "", f"无法读取表头：{exc}"))
        return result
    columns = _map_header(form, header, result, file)
    if columns is None:
        return result
    fields = {f.name: f for f in form.fields}
    seen_ids: dict[str, int] = {}
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.issues.append(
                Issue.of(BAD_ROW, file, start, "", f"第 {start} 行无法读取：{exc}")
            )
            result.rejected += 1
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            result.issues.append(
                Issue.of(
                    BAD_ROW,
                    file,
                    start,
                    "",
                    f"第 {start} 行有 {len(cells)} 列，表头有 {len(header)} 列",
                )
            )
            result.rejected += 1
            continue
        row_ok = True
        values: dict[str, str | list[str]] = {}
        for index, name in enumerate(columns):
            if name is None:
                continue
            raw = unneutralise(cells[index])
            key = f"{name}"
            if name == RESPONSE_ID:
                rid = raw.strip()
                if not rid:
                    result.issues.append(
                        Issue.of(BAD_VALUE, file, start, key, "回复编号为空", column=index + 1)
                    )
                    row_ok = False
                elif rid in seen_ids:
                    result.issues.append(
                        Issue.of(
                            DUPLICATE,
                            file,
                            start,
                            key,
                            f"回复编号“{rid}”与第 {seen_ids[rid]} 行重复",
                            column=index + 1,
                        )
                    )
                    row_ok = False
                else:
                    seen_ids[rid] = start
                values[name] = rid
            elif name == SUBMITTED_AT:
                if _parse_timestamp(raw) is None:
                    result.issues.append(
                        Issue.of(
                            BAD_TIMESTAMP,
                            file,
                            start,
                            key,
                            f"提交时间“{raw}”无法识别",
                            column=index + 1,
                        )
                    )
                    row_ok = False
                values[name] = raw.strip()
            else:
                item = fields[name]
                value: str | list[str] = raw
                if item.kind is FieldKind.MULTIPLE_CHOICE:
                    value = [v for v in raw.split(MULTI_SEPARATOR)]
                value = normalize(item, value)
                message = check_field(item, value)
                if message:
                    shown = raw if len(raw) <= 30 else raw[:30] + "…"
                    result.issues.append(
                        Issue.of(
                            BAD_VALUE,
                            file,
                            start,
                            key,
                            f"“{item.label}”的答案“{shown}”不符合要求：{message}",
                            column=index + 1,
                        )  # fmt: skip
                    )
                    row_ok = False
                values[name] = value
        if row_ok:
            result.rows.append(values)
        else:
            result.rejected += 1
    if not result.rows and not result.rejected:
        result.issues.append(Issue.of(EMPTY, file, None, "", "只有表头，没有回复"))
    return result


def _map_header(
    form: Form, header: list[str], result: Responses, file: str
) -> list[str | None] | None:
    """Column index -> field name. Accepts column names or the fields' Chinese labels."""
    expected = response_columns(form)
    by_label = {f.label: f.name for f in form.fields} | {
        "回复编号": RESPONSE_ID,
        "提交时间": SUBMITTED_AT,
    }
    columns: list[str | None] = []
    ok = True
    for index, raw in enumerate(header):
        name = raw.strip()
        name = name if name in expected else by_label.get(name, name)
        if name not in expected:
            result.issues.append(
                Issue.of(
                    BAD_HEADER,
                    file,
                    1,
                    name,
                    f"第 {index + 1} 列“{raw}”不是本表单的列",
                    column=index + 1,
                )
            )
            ok = False
            columns.append(None)
        elif name in columns:
            result.issues.append(
                Issue.of(BAD_HEADER, file, 1, name, f"列“{raw}”重复", column=index + 1)
            )
            ok = False
            columns.append(None)
        else:
            columns.append(name)
    missing = [name for name in expected if name not in columns]
    if missing:
        result.issues.append(Issue.of(BAD_HEADER, file, 1, "", "缺少列：" + "、".join(missing)))
        ok = False
    return columns if ok else None


def aggregate(form: Form, rows: list[dict[str, str | list[str]]], today: dt.date) -> FormResults:
    """Counts per choice and mean ratings, overall and per ``results_by`` group.

    Only choice, rating and number fields that are not personal are aggregated; a group or a
    field answered by fewer than ``SUPPRESS_BELOW`` people is marked suppressed and carries no
    numbers.
    """
    publishable = [f for f in form.fields if f.publishable and f.name != form.results_by]
    overall = _group(None, "全部回复", rows, publishable)
    results = FormResults(form.id, len(rows), today, overall, group_field=form.results_by)
    if form.results_by:
        group_field = form.get_field(form.results_by)
        assert group_field is not None
        by_value: dict[str, list[dict[str, str | list[str]]]] = {}
        for row in rows:
            value = row.get(form.results_by)
            if isinstance(value, str) and value:
                by_value.setdefault(value, []).append(row)
        for option in group_field.options:
            if option.value in by_value:
                results.groups.append(
                    _group(option.value, option.label, by_value.pop(option.value), publishable)
                )
        for value, group_rows in sorted(by_value.items()):  # options no longer offered
            results.groups.append(_group(value, value, group_rows, publishable))
    return results


def _group(
    value: str | None, label: str, rows: list[dict[str, str | list[str]]], fields: list[Field]
) -> ResultGroup:
    n = len(rows)
    if n < SUPPRESS_BELOW:
        return ResultGroup(value, label, n, True)
    return ResultGroup(value, label, n, False, [_field_result(f, rows) for f in fields])


def _field_result(item: Field, rows: list[dict[str, str | list[str]]]) -> FieldResult:
    answers = [row.get(item.name) for row in rows]
    answered = [a for a in answers if a not in (None, "", [])]
    n = len(answered)
    result = FieldResult(item.name, item.label, item.kind, n, n < SUPPRESS_BELOW)
    if result.suppressed:
        return result
    if item.is_choice:
        counter: Counter[str] = Counter()
        for answer in answered:
            counter.update(answer if isinstance(answer, list) else [answer])  # type: ignore[arg-type]
        result.counts = [
            ChoiceCount(o.value, o.label, counter.get(o.value, 0)) for o in item.options
        ]
    elif item.kind is FieldKind.RATING:
        numbers = [int(a) for a in answered]  # type: ignore[arg-type]
        result.counts = [ChoiceCount(str(k), f"{k} 分", numbers.count(k)) for k in range(1, 6)]
        result.mean = round(sum(numbers) / n, 2)
    elif item.kind is FieldKind.NUMBER:
        numbers_f = [float(a) for a in answered]  # type: ignore[arg-type]
        result.mean = round(sum(numbers_f) / n, 2)
    return result
