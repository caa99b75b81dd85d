"""Validate stage: every check on the data folder, all problems collected before deciding.

``check(data_dir)`` reads the contract (``data/datapackage.yaml``), loads and flattens the YAML
files, casts every value by its Table Schema type, applies the schema's constraints, primary and
foreign keys, then the cross-record rules of the domain (code prefixes, date order, budgets,
votes, tags), the case-record checks (DuckDB) and the checks other modules contribute
(``EXTRA_CHECKS``). It returns a ``CheckResult``; ``load_dataset`` raises ``DataError`` instead.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.cache import ResultCache, cache_root
from generator.contract import Contract, ContractError, FieldRule, TableRule, load_contract
from generator.issues import DataError, Issue, Severity, register
from generator.layout import ENTITY_SOURCES
from generator.load import (
    Flattener,
    FoundFile,
    RawRow,
    Scalar,
    Value,
    did_you_mean,
    discover,
    display_root,
    is_date_shaped,
    read_entity_file,
    rel,
    set_titles,
)
from generator.memory import without_gc
from generator.model import GOVERNANCE_TAGS, Dataset

__all__ = [
    "EXTRA_CHECKS",
    "CheckResult",
    "ContractError",
    "check",
    "check_cases",
    "load_dataset",
]

# Checks owned by other modules, imported lazily: "module:function", each
# ``(data_dir: Path, dataset: Dataset | None) -> list[Issue]``.
EXTRA_CHECKS: tuple[str, ...] = (
    "generator.forms.definitions:check_forms",
    "generator.reports:check_reports",
)

MISSING_VALUE = register(
    "missing-value", Severity.ERROR, "缺少必填的值", "填写这个字段；数据字典标明了哪些字段必填。"
)
TYPE_ERROR = register(
    "type-error",
    Severity.ERROR,
    "值的类型不对（例如应为整数却写了文字）",
    "按数据字典中该字段的类型填写：整数不带小数点和单位，数字不带单位和千位逗号，是/否写 true 或 false。",
)
INVALID_DATE = register(
    "invalid-date",
    Severity.ERROR,
    "日期格式不对",
    "日期写成“年-月-日”，如 2026-03-01；时间写成 2026-03-01 08:30:00。",
)
IMPOSSIBLE_DATE = register(
    "impossible-date",
    Severity.ERROR,
    "日期不存在（如 2 月 30 日、13 月）",
    "核对原始记录，改成真实存在的日期。",
)
NOT_IN_ENUM = register(
    "not-in-enum",
    Severity.ERROR,
    "值不在允许的选项中",
    "从提示列出的选项中选一个，一字不差地填写。",
)
PATTERN_MISMATCH = register(
    "pattern-mismatch",
    Severity.ERROR,
    "值的格式不对（如编号含大写或中文、区划代码位数不对）",
    "编号只用小写字母、数字和连字符“-”；区划代码按统计用区划代码填写完整位数。",
)
TOO_LONG = register(
    "too-long",
    Severity.ERROR,
    "文字超过了允许的长度",
    "精简文字；较长的说明可写在 content/ 的页面中。",
)
TOO_SHORT = register("too-short", Severity.ERROR, "文字短于要求的长度", "补充完整。")
OUT_OF_RANGE = register(
    "out-of-range",
    Severity.ERROR,
    "数值超出允许的范围（如人数为负数）",
    "核对数值；数据字典列出了每个字段的取值范围。",
)
INVALID_MONEY = register(
    "invalid-money",
    Severity.ERROR,
    "金额不是数字",
    "金额以“元”为单位只写数字，如 120000 或 8500.5；不要写“万”“元”“￥”或千位逗号。",
)
NEGATIVE_MONEY = register(
    "negative-money", Severity.ERROR, "金额为负数", "金额不能小于 0；退款或冲减请在说明中写明。"
)
PERCENT_RANGE = register(
    "percent-out-of-range",
    Severity.ERROR,
    "百分比不在 0–100 之间",
    "百分比只写 0 到 100 之间的数字，不带“%”，如 60 表示 60%。",
)
DATE_ORDER = register(
    "date-order",
    Severity.ERROR,
    "结束（或后续）日期早于开始日期",
    "核对两个日期，改正写错的一个。",
)
ID_MISMATCH = register(
    "id-mismatch",
    Severity.ERROR,
    "id 与文件名不一致",
    "文件名（不含 .yaml）就是编号：改正 id，或重命名文件，或删除 id 这一行（自动取文件名）。",
)
DUPLICATE_ID = register(
    "duplicate-id",
    Severity.ERROR,
    "编号重复：两条记录用了同一个编号",
    "编号必须唯一：给其中一条换一个编号（并同步修改引用它的地方）。",
)
DUPLICATE_VALUE = register(
    "duplicate-value",
    Severity.ERROR,
    "应唯一的值重复（如两个村社用了同一个区划代码）",
    "核对两处记录，改正其中一个。",
)
UNKNOWN_REFERENCE = register(
    "unknown-reference",
    Severity.ERROR,
    "引用的编号不存在",
    "检查编号拼写，或先添加被引用的记录。",
)
CODE_PREFIX = register(
    "code-prefix",
    Severity.ERROR,
    "区划代码与上级不符（村社代码前 9 位应为镇街代码，镇街代码前 6 位应为区代码）",
    "按统计用区划代码核对本级和上级的代码。",
)
SPENT_OVER_BUDGET = register(
    "spent-over-budget",
    Severity.WARNING,
    "已支出超过预算",
    "核对金额；确有超支时，在项目说明中写明原因和追加预算的依据。",
)
VOTES_EXCEED = register(
    "votes-exceed-attendance",
    Severity.WARNING,
    "赞成、反对、弃权票数合计超过会议实到人数",
    "核对票数和实到人数。",
)
UNKNOWN_TAG = register(
    "unknown-tag",
    Severity.ERROR,
    "标签不在规定的标签表中",
    "标签只能从以下选用：" + "、".join(GOVERNANCE_TAGS) + "。",
)
MISSING_DISTRICT = register(
    "missing-district",
    Severity.ERROR,
    "缺少区（县）信息文件 district.yaml",
    "在数据文件夹顶层添加 district.yaml（区划代码、名称、是否示例数据）。",
)

_TYPE_WORDS = {
    "string": "文字",
    "integer": "整数",
    "number": "数字",
    "date": "日期（如 2026-03-01）",
    "datetime": "日期时间（如 2026-03-01 08:30:00）",
    "boolean": "true 或 false",
    "list": "列表",
}

# (table, earlier field, later field): the later date may not precede the earlier one.
DATE_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("memberships", "term_start", "term_end"),
    ("projects", "start_on", "end_on"),
    ("policies", "issued_on", "repealed_on"),
    ("policies", "effective_on", "repealed_on"),
    ("awards", "nomination_opens", "nomination_closes"),
    ("awards", "nomination_closes", "announced_on"),
    ("decisions", "publicised_on", "completed_on"),
)


@dataclass
class CheckResult:
    issues: list[Issue]
    tables: dict[str, list[dict[str, Any]]]
    dataset: Dataset | None
    case_files: list[Path] = field(default_factory=list)
    # the known community ids and grid → community, for ``check_cases`` (None: unreadable)
    communities: set[str] | None = None
    grids: dict[str, str | None] | None = None
    # table → the files its typed rows came from, in order: (display path, SHA-256 or None,
    # how many rows), and what read and cast them (``TableFiles``; opendata keeps each file's
    # share of a published table by it)
    table_files: dict[str, TableFiles] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.WARNING]

    def valid(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


# ---------------------------------------------------------------------------- casting


class _Cast:
    """Casts raw YAML values by their field's Table Schema type, collecting issues."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues

    def issue(
        self,
        kind,
        row: RawRow,
        name: str,
        message: str,
        hint: str | None = None,
        at: Value | None = None,
    ) -> None:
        line, column = (at.line, at.column) if at is not None else row.where(name)
        self.issues.append(
            Issue.of(kind, row.file, line, row.key(name), message, hint=hint, column=column)
        )

    def cell(self, rule: FieldRule, row: RawRow, value: Value | None) -> Any:
        if value is None or (
            isinstance(value, Scalar) and value.kind == "str" and not value.text.strip()
        ):
            if rule.required:
                self.issue(
                    MISSING_VALUE,
                    row,
                    rule.name,
                    f"必填字段“{rule.name}”（{rule.title}）没有填写。",
                )
            return None
        if rule.type == "list":
            return self.list_cell(rule, row, value)
        if not isinstance(value, Scalar):
            self.issue(
                TYPE_ERROR,
                row,
                rule.name,
                f"“{rule.name}”（{rule.title}）应为{_TYPE_WORDS.get(rule.type, rule.type)}，这里却是"
                f"{'列表' if value.kind == 'seq' else '映射'}。",
            )
            return None
        typed = self.scalar(rule, row, value)
        if typed is None:
            return None
        return typed if self.constraints(rule, row, value, typed) else None

    def list_cell(self, rule: FieldRule, row: RawRow, value: Value) -> list[str] | None:
        if isinstance(value, Scalar):
            items = [part.strip() for part in value.text.split(rule.delimiter) if part.strip()]
            return items
        if value.kind == "map" or any(not isinstance(item, Scalar) for item in value.items):
            self.issue(TYPE_ERROR, row, rule.name, f"“{rule.name}”应为文字列表，每项一个值。")
            return None
        return [item.text.strip() for item in value.items if item.text.strip()]

    def scalar(self, rule: FieldRule, row: RawRow, value: Scalar) -> Any:
        kind, text = value.kind, value.text.strip()
        label = f"“{rule.name}”（{rule.title}）"
        if rule.type == "string":
            return value.value if kind == "str" else text
        if rule.type == "integer":
            if kind == "int":
                return int(value.value)
            if kind == "str" and re.fullmatch(r"[+-]?\d+", text):
                return int(text)
            if kind == "float" and float(value.value).is_integer():
                return int(value.value)
            hint = _number_hint(text)
            self.issue(TYPE_ERROR, row, rule.name, f"{label}应为整数，这里是“{text}”。", hint=hint)
            return None
        if rule.type == "number":
            if kind in ("int", "float") and not isinstance(value.value, bool):
                number = float(value.value)
            elif kind == "str" and re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
                number = float(text)
            else:
                hint = _number_hint(text)
                kind_ = INVALID_MONEY if rule.is_money else TYPE_ERROR
                what = "金额（元）" if rule.is_money else "数字"
                self.issue(kind_, row, rule.name, f"{label}应为{what}，这里是“{text}”。", hint=hint)
                return None
            if number != number or number in (float("inf"), float("-inf")):
                self.issue(TYPE_ERROR, row, rule.name, f"{label}应为有限的数字，这里是“{text}”。")
                return None
            return number
        if rule.type == "date":
            if (
                kind == "timestamp"
                and isinstance(value.value, dt.date)
                and not isinstance(value.value, dt.datetime)
            ):
                return value.value
            if kind == "timestamp":  # a datetime where a date is expected
                self.issue(
                    INVALID_DATE,
                    row,
                    rule.name,
                    f"{label}只写日期，不写时间，这里是“{text}”。",
                    hint=f"改为 {value.value.date().isoformat()}。",
                )
                return None
            return self.date_text(rule, row, text, label)
        if rule.type == "datetime":
            if kind == "timestamp":
                stamp = value.value
                return (
                    stamp
                    if isinstance(stamp, dt.datetime)
                    else dt.datetime.combine(stamp, dt.time())
                )
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                self.date_text(rule, row, text[:10], label)
                return None
        if rule.type == "boolean":
            if kind == "bool":
                return bool(value.value)
            if text in rule.true_values:
                return True
            if text in rule.false_values:
                return False
            self.issue(
                TYPE_ERROR,
                row,
                rule.name,
                f"{label}应为 true（是）或 false（否），这里是“{text}”。",
            )
            return None
        return value.value

    def date_text(self, rule: FieldRule, row: RawRow, text: str, label: str) -> dt.date | None:
        if is_date_shaped(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                self.issue(IMPOSSIBLE_DATE, row, rule.name, f"{label}的日期“{text}”不存在。")
                return None
        guess = _date_guess(text)
        if guess is False:
            self.issue(IMPOSSIBLE_DATE, row, rule.name, f"{label}的日期“{text}”不存在。")
            return None
        hint = f"改为 {guess.isoformat()}。" if isinstance(guess, dt.date) else None
        self.issue(
            INVALID_DATE,
            row,
            rule.name,
            f"{label}应写成 年-月-日（如 2026-03-01），这里是“{text}”。",
            hint=hint,
        )
        return None

    def constraints(self, rule: FieldRule, row: RawRow, value: Scalar, typed: Any) -> bool:
        label = f"“{rule.name}”（{rule.title}）"
        ok = True
        if isinstance(typed, str):
            if rule.enum and typed not in rule.enum:
                guess = did_you_mean(typed, rule.enum)
                hint = (
                    ("是不是“" + guess + "”？" if guess else "")
                    + "可选："
                    + "、".join(rule.enum)
                    + "。"
                )
                self.issue(
                    NOT_IN_ENUM, row, rule.name, f"{label}的值“{typed}”不在可选项中。", hint=hint
                )
                ok = False
            regex = rule.regex()
            if regex is not None and not regex.fullmatch(typed):
                self.issue(
                    PATTERN_MISMATCH,
                    row,
                    rule.name,
                    f"{label}的值“{typed}”格式不对（应符合 {rule.pattern}）。",
                    hint=_pattern_hint(rule, typed),
                )
                ok = False
            if rule.max_length is not None and len(typed) > rule.max_length:
                self.issue(
                    TOO_LONG,
                    row,
                    rule.name,
                    f"{label}有 {len(typed)} 个字，超过上限 {rule.max_length} 个字。",
                )
                ok = False
            if rule.min_length is not None and len(typed) < rule.min_length:
                self.issue(
                    TOO_SHORT,
                    row,
                    rule.name,
                    f"{label}只有 {len(typed)} 个字，至少应有 {rule.min_length} 个字。",
                )
                ok = False
        elif isinstance(typed, int | float) and not isinstance(typed, bool):
            low, high = rule.minimum, rule.maximum
            if (low is not None and typed < low) or (high is not None and typed > high):
                shown = _num(typed)
                if rule.is_money and low is not None and typed < low:
                    self.issue(NEGATIVE_MONEY, row, rule.name, f"{label}是负数（{shown} 元）。")
                elif rule.is_percent:
                    self.issue(
                        PERCENT_RANGE, row, rule.name, f"{label}是 {shown}，百分比应在 0–100 之间。"
                    )
                else:
                    span = _span(low, high)
                    self.issue(OUT_OF_RANGE, row, rule.name, f"{label}是 {shown}，应{span}。")
                ok = False
        return ok


def _num(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _span(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"在 {_num(low)} 到 {_num(high)} 之间"
    if low is not None:
        return f"不小于 {_num(low)}"
    return f"不大于 {_num(high)}"  # type: ignore[arg-type]


def _number_hint(text: str) -> str | None:
    if "万" in text:
        return "不要用“万”，写完整数字，如 12万 写成 120000。"
    if "," in text or "，" in text:
        return "去掉千位逗号，如 1,200 写成 1200。"
    if any(sign in text for sign in ("元", "￥", "¥", "%", "％", "人", "户", "个")):
        return "只写数字，不带单位或符号。"
    if re.fullmatch(r"[+-]?\d+\.\d+", text):
        return "这个字段只能是整数。"
    return None


def _pattern_hint(rule: FieldRule, text: str) -> str | None:
    if rule.pattern and rule.pattern.startswith("^[a-z0-9]"):
        lowered = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
        return (
            f"编号只用小写字母、数字和“-”，如“{lowered}”。"
            if lowered
            else "编号只用小写字母、数字和“-”（可用拼音）。"
        )
    digits = re.fullmatch(r"\^\[0-9\]\{(\d+)\}\$", rule.pattern or "")
    if digits:
        return f"应为 {digits.group(1)} 位数字（现在是 {len(text)} 位）；以 0 开头时请加引号。"
    return None


def _date_guess(text: str) -> dt.date | bool | None:
    """A date typed as 2026/3/1, 2026.3.1 or 2026年3月1日: the ISO date, False if impossible."""
    match = re.fullmatch(r"(\d{4})\s*[/.年-]\s*(\d{1,2})\s*[/.月-]\s*(\d{1,2})\s*日?", text)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False


# ---------------------------------------------------------------------------- table checks


@dataclass
class _Table:
    rule: TableRule
    raw: list[RawRow]
    typed: list[dict[str, Any]]


def _where_kept(resource: str) -> str:
    places = [
        f"data/{source.folder}/" if source.folder else f"data/{source.single_file}"
        for source in ENTITY_SOURCES
        if source.resource == resource
    ]
    places += [
        f"data/{source.folder}/ 中文件的 {nested.key} 列表"
        for source in ENTITY_SOURCES
        for nested in source.nested
        if nested.resource == resource
    ]
    return "或".join(places) if places else "data/"


@dataclass(frozen=True)
class TableFiles:
    """The files one table's typed rows came from, in order, and the digest of what read and
    cast them (the contract and the code): rows ``sum(count for earlier files)`` onwards,
    ``count`` of them, are a function of that digest and the file's bytes alone."""

    reader: str
    files: tuple[tuple[str, str | None, int], ...]  # (display path, SHA-256 or None, rows)


@dataclass
class _Read:
    tables: dict[str, _Table]
    issues: list[Issue]  # reading and casting each file
    unreadable: set[str]  # tables with a file that gave no rows
    case_files: list[Path]
    files: dict[str, TableFiles]  # ``CheckResult.table_files``


def _read_tables(data_dir: Path, contract: Contract) -> _Read:
    """Read and cast every YAML entity file, in path order; a file unchanged since the last
    check is taken from ``generator.filecache`` (reading was most of a check's time).

    Files are read in one process. (Spreading the parsing over processes was measured slower:
    pickling the rows back costs more than parsing them.)
    """
    from generator.filecache import FileStore

    set_titles(contract.titles())
    root = display_root(data_dir)
    entities, case_files, issues = discover(data_dir, root)
    shown = _Shown(data_dir, root)
    store = FileStore(
        cache_root(data_dir), contract_descriptor=contract.descriptor, shown_prefix=shown.prefix
    )
    flattener = Flattener(contract.field_names())
    rules = {name: rule for name, rule in contract.tables.items() if name != "cases"}
    tables = {name: _Table(rule, [], []) for name, rule in contract.tables.items()}
    unreadable: set[str] = set()

    def reader(
        found: FoundFile, file: str
    ) -> tuple[list[RawRow], list[dict[str, Any]], list[Issue], bool]:
        rows, file_issues = read_entity_file(found, file, flattener)
        cast = _Cast(file_issues)
        kept: list[RawRow] = []
        typed: list[dict[str, Any]] = []
        for row in rows:
            rule = rules.get(row.resource)
            if rule is not None:
                kept.append(row)
                typed.append(
                    {
                        name: cast.cell(fr, row, row.values.get(name))
                        for name, fr in rule.fields.items()
                    }
                )
        return kept, typed, file_issues, not rows

    spans: dict[str, list[tuple[str, str | None, int]]] = {}  # table → (file, digest, rows), in order

    for found in entities:
        file = shown(found.path)
        result = store.result(found, file, flattener, reader)
        if result.empty and found.source is not None:
            # its records are unknown: references to its tables would be reported in vain
            unreadable.add(found.source.resource)
            unreadable.update(n.resource for n in found.source.nested)
        issues.extend(result.issues)
        counts: dict[str, int] = {}
        for row, typed in zip(result.rows, result.typed, strict=True):
            table = tables[row.resource]
            table.raw.append(row)
            table.typed.append(typed)
            counts[row.resource] = counts.get(row.resource, 0) + 1
        for name, count in counts.items():
            spans.setdefault(name, []).append((file, result.digest, count))
    store.save()  # before anything downstream can touch the typed rows it stores
    files = {name: TableFiles(store.base, tuple(spans.get(name, ()))) for name in tables}
    return _Read(tables, issues, unreadable, case_files, files)


class _Shown:
    """Display paths of the files found under a data folder: the folder's own path relative to
    the root is worked out once, not resolved again for each of 18,000 files."""

    def __init__(self, data_dir: Path, root: Path) -> None:
        self.data_dir = data_dir
        self.prefix = rel(data_dir, root)

    def __call__(self, path: Path) -> str:
        try:
            inside = path.relative_to(self.data_dir).as_posix()
        except ValueError:
            return rel(path, self.data_dir)
        return f"{self.prefix}/{inside}" if self.prefix not in ("", ".") else inside


def _check_ids_match_files(tables: dict[str, _Table], issues: list[Issue]) -> dict[str, set]:
    """Report ids that differ from their file name; return the file names as aliases.

    References to the file name are then not reported as well: one mistake, one message.
    """
    aliases: dict[str, set] = {}
    for source in ENTITY_SOURCES:
        if not source.id_field or source.resource not in tables:
            continue
        table = tables[source.resource]
        for raw, typed in zip(table.raw, table.typed, strict=True):
            if raw.prefix or source.id_field in raw.filled:
                continue
            stem = Path(raw.file).stem
            value = typed.get(source.id_field)
            if value is not None and str(value) != stem:
                aliases.setdefault(source.resource, set()).add((stem,))
                line, column = raw.where(source.id_field)
                issues.append(
                    Issue.of(
                        ID_MISMATCH,
                        raw.file,
                        line,
                        source.id_field,
                        f"id 是“{value}”，但文件名是“{stem}.yaml”。",
                        hint=f"把 id 改为“{stem}”，或把文件改名为“{value}.yaml”，或删除 id 这一行。",
                        column=column,
                    )
                )
    return aliases


def _check_unique(tables: dict[str, _Table], issues: list[Issue]) -> None:
    for table in tables.values():
        groups: list[tuple[tuple[str, ...], bool]] = []
        if table.rule.primary_key:
            groups.append((table.rule.primary_key, True))
        groups.extend(
            ((name,), False)
            for name, fr in table.rule.fields.items()
            if fr.unique and (name,) != table.rule.primary_key
        )
        for fields, is_key in groups:
            seen: dict[tuple, RawRow] = {}
            for raw, typed in zip(table.raw, table.typed, strict=True):
                value = tuple(typed.get(f) for f in fields)
                if any(v is None for v in value):
                    continue
                if value in seen:
                    first = seen[value]
                    first_line = first.where(fields[-1])[0]
                    shown = "、".join(str(v) for v in value)
                    line, column = raw.where(fields[-1])
                    kind = DUPLICATE_ID if is_key else DUPLICATE_VALUE
                    what = (
                        f"{table.rule.title}编号"
                        if is_key
                        else f"“{fields[0]}”（{table.rule.fields[fields[0]].title}）"
                    )
                    issues.append(
                        Issue.of(
                            kind,
                            raw.file,
                            line,
                            raw.key(fields[-1]),
                            f"{what}“{shown}”重复：{first.file}:{first_line} 已经用过。",
                            hint=f"两处分别是 {first.file}:{first_line} 和 {raw.file}:{line}；改正其中一个。",
                            column=column,
                        )
                    )
                else:
                    seen[value] = raw


def _check_foreign_keys(
    tables: dict[str, _Table],
    issues: list[Issue],
    unreadable: set[str] = frozenset(),
    aliases: dict[str, set] | None = None,
) -> None:
    for table in tables.values():
        for fk in table.rule.foreign_keys:
            target = tables.get(fk.resource)
            if target is None or fk.resource in unreadable:
                continue
            keys = {tuple(t.get(f) for f in fk.reference_fields) for t in target.typed}
            if fk.reference_fields == ("id",):
                keys |= (aliases or {}).get(fk.resource, set())
            choices = sorted({str(k[0]) for k in keys if k and k[0] is not None})
            for raw, typed in zip(table.raw, table.typed, strict=True):
                value = tuple(typed.get(f) for f in fk.fields)
                if any(v is None for v in value) or value in keys:
                    continue
                name = fk.fields[-1]
                shown = "、".join(str(v) for v in value)
                guess = did_you_mean(shown, choices) if len(fk.fields) == 1 else None
                hint = (
                    f"是不是“{guess}”？"
                    if guess
                    else f"在 {_where_kept(fk.resource)} 中添加“{shown}”，或更正编号。"
                )
                line, column = raw.where(name)
                issues.append(
                    Issue.of(
                        UNKNOWN_REFERENCE,
                        raw.file,
                        line,
                        raw.key(name),
                        f"未找到{target.rule.title}“{shown}”。",
                        hint=hint,
                        column=column,
                    )
                )


def _index(table: _Table, key: str = "id") -> dict[Any, tuple[RawRow, dict[str, Any]]]:
    out: dict[Any, tuple[RawRow, dict[str, Any]]] = {}
    for raw, typed in zip(table.raw, table.typed, strict=True):
        if typed.get(key) is not None:
            out.setdefault(typed[key], (raw, typed))
    return out


def _check_domain(tables: dict[str, _Table], issues: list[Issue]) -> None:
    def add(kind, raw: RawRow, name: str, message: str, hint: str | None = None) -> None:
        line, column = raw.where(name)
        issues.append(
            Issue.of(kind, raw.file, line, raw.key(name), message, hint=hint, column=column)
        )

    # administrative code prefixes: district (6) ⊂ street (9) ⊂ community (12)
    districts = tables["districts"].typed if "districts" in tables else []
    district_codes = {d["code"] for d in districts if d.get("code")}
    streets = _index(tables["streets"]) if "streets" in tables else {}
    for raw, typed in (
        zip(tables["streets"].raw, tables["streets"].typed, strict=True)
        if "streets" in tables
        else ()
    ):
        code, district = typed.get("code"), typed.get("district")
        if code and district and district in district_codes and code[:6] != district:
            add(
                CODE_PREFIX,
                raw,
                "code",
                f"镇街代码 {code} 的前 6 位是 {code[:6]}，与所属区代码 {district} 不符。",
                hint=f"镇街代码应以 {district} 开头。",
            )
    for raw, typed in (
        zip(tables["communities"].raw, tables["communities"].typed, strict=True)
        if "communities" in tables
        else ()
    ):
        code, street = typed.get("code"), typed.get("street")
        if code and street in streets:
            street_code = streets[street][1].get("code")
            if street_code and code[:9] != street_code:
                add(
                    CODE_PREFIX,
                    raw,
                    "code",
                    f"村社代码 {code} 的前 9 位是 {code[:9]}，与所属镇街“{street}”的代码 {street_code} 不符。",
                    hint=f"村社代码应以 {street_code} 开头，或核对 street 是否填错。",
                )

    # date order within a record
    for name, earlier, later in DATE_ORDER_RULES:
        if name not in tables:
            continue
        rule = tables[name].rule
        for raw, typed in zip(tables[name].raw, tables[name].typed, strict=True):
            first, second = typed.get(earlier), typed.get(later)
            if first is not None and second is not None and second < first:
                add(
                    DATE_ORDER,
                    raw,
                    later,
                    f"“{later}”（{rule.fields[later].title}，{second}）早于“{earlier}”（{rule.fields[earlier].title}，{first}）。",
                )

    # decisions after their meeting; votes within attendance
    meetings = _index(tables["meetings"]) if "meetings" in tables else {}
    for raw, typed in (
        zip(tables["decisions"].raw, tables["decisions"].typed, strict=True)
        if "decisions" in tables
        else ()
    ):
        meeting = meetings.get(typed.get("meeting"))
        if meeting is None:
            continue
        meeting_date, attended = meeting[1].get("date"), meeting[1].get("attended")
        for date_field in ("publicised_on", "completed_on"):
            value = typed.get(date_field)
            if meeting_date is not None and value is not None and value < meeting_date:
                add(
                    DATE_ORDER,
                    raw,
                    date_field,
                    f"“{date_field}”（{value}）早于作出决议的会议日期（{meeting_date}）。",
                )
        votes = [typed.get(v) for v in ("votes_for", "votes_against", "votes_abstain")]
        total = sum(v for v in votes if v is not None)
        if attended is not None and any(v is not None for v in votes) and total > attended:
            add(
                VOTES_EXCEED,
                raw,
                "votes_for",
                f"赞成、反对、弃权合计 {total} 票，超过会议实到 {attended} 人。",
            )

    # money
    for raw, typed in (
        zip(tables["projects"].raw, tables["projects"].typed, strict=True)
        if "projects" in tables
        else ()
    ):
        budget, spent = typed.get("budget_yuan"), typed.get("spent_yuan")
        if budget is not None and spent is not None and spent > budget:
            add(
                SPENT_OVER_BUDGET,
                raw,
                "spent_yuan",
                f"已支出 {_num(spent)} 元，超过预算 {_num(budget)} 元。",
            )

    # tags from the controlled list
    for table in tables.values():
        if "tags" not in table.rule.fields or table.rule.fields["tags"].type != "list":
            continue
        for raw, typed in zip(table.raw, table.typed, strict=True):
            for tag in typed.get("tags") or ():
                if tag not in GOVERNANCE_TAGS:
                    guess = did_you_mean(tag, GOVERNANCE_TAGS, cutoff=0.5)
                    hint = (
                        (f"是不是“{guess}”？" if guess else "")
                        + "可用标签："
                        + "、".join(GOVERNANCE_TAGS)
                        + "。"
                    )
                    if "，" in tag or "、" in tag:
                        hint = "多个标签请写成列表（[自治, 德治]）或用英文逗号分隔。" + hint
                    add(UNKNOWN_TAG, raw, "tags", f"标签“{tag}”不在标签表中。", hint=hint)


# ---------------------------------------------------------------------------- the stage


def _run_extra_checks(data_dir: Path, dataset: Dataset | None, specs: Iterable[str]) -> list[Issue]:
    issues: list[Issue] = []
    for spec in specs:
        module_name, _, function_name = spec.partition(":")
        module = importlib.import_module(module_name)
        function: Callable[[Path, Dataset | None], list[Issue]] = getattr(module, function_name)
        issues.extend(function(data_dir, dataset))
    return issues


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    return sorted(
        issues,
        # by file and line; issues without a line (whole file, "N more not listed") last
        key=lambda i: (i.file, i.line is None, i.line or 0, i.column or 0, i.key, i.code),
    )


def check(
    data_dir: Path,
    *,
    extra_checks: Iterable[str] | None = None,
    cases: bool = True,
    contract: Contract | None = None,
) -> CheckResult:
    """Check everything under ``data_dir``; every problem is returned, nothing is raised for bad data.

    Raises ``ContractError`` only when validation cannot run at all (no data folder, or a
    missing or broken ``datapackage.yaml``).
    """
    # rows, typed values and linked records: many small objects and no garbage cycles, which
    # the cyclic collector would scan again and again (a third of a city tier's check)
    with without_gc():
        return _check(data_dir, extra_checks=extra_checks, cases=cases, contract=contract)


# From this many rows on, the checks across files run in a forked copy of the process while
# this one links the records (``_check``); below it the copy costs more than it saves.
PARALLEL_CHECK_ROWS = 50_000


def _cross_file_issues(tables: dict[str, _Table], unreadable: set[str]) -> list[Issue]:
    """The checks across files: ids against file names, uniqueness, references, domain rules."""
    found: list[Issue] = []
    aliases = _check_ids_match_files(tables, found)
    _check_unique(tables, found)
    _check_foreign_keys(tables, found, unreadable, aliases)
    _check_domain(tables, found)
    return found


def _check(
    data_dir: Path, *, extra_checks: Iterable[str] | None, cases: bool, contract: Contract | None,
    fork: bool = True,
) -> CheckResult:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(f"找不到数据文件夹 {data_dir}。")
    contract = contract or load_contract(data_dir)
    read = _read_tables(data_dir, contract)
    issues = read.issues
    root = display_root(data_dir)
    tables = read.tables
    if (
        "districts" in tables
        and not tables["districts"].raw
        and not any(i.file.endswith("district.yaml") for i in issues)
    ):
        issues.append(
            Issue.of(
                MISSING_DISTRICT,
                rel(data_dir / "district.yaml", root),
                None,
                "",
                "数据文件夹中没有 district.yaml。",
            )
        )
    # A large folder's checks across files run in a forked copy (it has the tables already)
    # while the records are linked here; the dataset is dropped if they find errors. Should
    # the copy fail, the check runs again without one.
    rows = sum(len(table.typed) for table in tables.values())
    unreadable = read.unreadable
    helper = None
    if fork and rows >= PARALLEL_CHECK_ROWS:
        from generator.forking import Forked

        helper = Forked.start(lambda tables=tables: _cross_file_issues(tables, unreadable))
    if helper is None:
        issues.extend(_cross_file_issues(tables, unreadable))
    communities = (
        None
        if "communities" in read.unreadable or "communities" not in tables
        else {t["id"] for t in tables["communities"].typed if t.get("id")}
    )
    grids = (
        None
        if "grids" in read.unreadable or "grids" not in tables
        else {t["id"]: t.get("community") for t in tables["grids"].typed if t.get("id")}
    )
    if cases and read.case_files:
        issues.extend(
            check_cases(
                data_dir, read.case_files, communities=communities, grids=grids, contract=contract
            )
        )
    typed_tables = {name: table.typed for name, table in tables.items()}
    files = read.files
    # the raw values (with every node's position) are no longer needed: keep where each row
    # starts and let the rest go before the typed records are built (25,000-community tiers)
    origins = {n: [(r.file, r.line) for r in t.raw] for n, t in tables.items()}
    case_files = read.case_files
    del read, tables
    dataset = None
    failure: Exception | None = None
    if not any(i.severity is Severity.ERROR for i in issues):
        from generator.link import build_dataset

        try:
            dataset = build_dataset(data_dir, root, origins, typed_tables, case_files)
        except Exception as exc:
            if helper is None:
                raise
            failure = exc  # (linking assumes valid references: the copy's checks say whether they are)
    if helper is not None:
        found = helper.result()
        if found is None:  # the copy failed: the whole check again, in this process
            del dataset, typed_tables
            return _check(data_dir, extra_checks=extra_checks, cases=cases, contract=contract, fork=False)
        issues.extend(found)
        if any(i.severity is Severity.ERROR for i in found):
            dataset = None
        elif failure is not None:
            raise failure
    issues.extend(
        _run_extra_checks(data_dir, dataset, EXTRA_CHECKS if extra_checks is None else extra_checks)
    )
    if dataset is not None and any(i.severity is Severity.ERROR for i in issues):
        dataset = None
    return CheckResult(sort_issues(issues), typed_tables, dataset, case_files, communities, grids, files)


def check_cases(
    data_dir: Path,
    case_files: list[Path],
    *,
    communities: set[str] | None,
    grids: dict[str, str | None] | None,
    contract: Contract | None = None,
    threads: int | None = None,
) -> list[Issue]:
    """The case files' issues against the ``cases`` schema and the known community and grid
    ids (``None``: that reference is not checked, as its YAML file could not be read).

    ``check`` runs it with everything else; ``gongzhi build`` runs it on its own, beside MkDocs,
    once the YAML is known to be valid (see ``generator.build``).
    """
    contract = contract or load_contract(data_dir)
    if not case_files or "cases" not in contract.tables:
        return []
    from generator.casecheck import check_case_files

    return check_case_files(
        case_files,
        contract.tables["cases"],
        communities=communities,
        grids=grids,
        root=display_root(data_dir),
        cache=ResultCache(cache_root(data_dir), "cases", keep=512),
        threads=threads,
    )


def load_dataset(data_dir: Path, *, strict: bool = False) -> Dataset:
    """The linked dataset, or ``DataError`` with every issue when the data is invalid."""
    result = check(data_dir)
    if result.dataset is None or not result.valid(strict=strict):
        raise DataError(result.issues)
    return result.dataset
