"""Load stage: read editors' YAML files (and find case files), flatten them onto the package's tables.

Every value keeps where it came from (line and column of its YAML node), so that later checks
can say ``data/communities/xinfeng.yaml:14 grids[2].full_time_workers``. Problems found while
reading — encoding, BOM, tabs, syntax, duplicate keys, unknown keys, misplaced files — are
returned as ``Issue`` records; nothing here prints or raises for bad data.

Values are not type-cast here: a scalar is kept as a ``Scalar`` with both the value YAML
resolved and the text the editor typed, so that the validate stage can cast each one by the
Table Schema type of its field (``code: 330113`` is the string "330113", not an integer).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from generator.issues import Issue, Severity, register
from generator.layout import CASES_FOLDER, ENTITY_SOURCES, PACKAGE_FILE, EntitySource, Nested

try:  # libyaml is several times faster on 25,000 files
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_STR, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Composes nodes without YAML 1.1's implicit typing of plain scalars.

    Every value is cast later by the Table Schema type of its field (so ``330113`` stays the
    code "330113", ``yes`` is not a boolean, ``0123`` is not octal), which also spares the
    regular-expression resolver on every node of 100,000s of files. Only null is recognised.
    """

    def resolve(self, kind, value, implicit):  # noqa: ANN001, ANN201 - PyYAML's signature
        if kind is yaml.ScalarNode:
            return _NULL if implicit[0] and value in _NULLS else _STR
        return super().resolve(kind, value, implicit)


# Folders under data/ whose files are validated by other modules (see validate.EXTRA_CHECKS).
DELEGATED_FOLDERS: tuple[str, ...] = ("forms", "reports")
CASE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")

NOT_UTF8 = register(
    "not-utf8",
    Severity.ERROR,
    "文件不是 UTF-8 编码",
    "用 UTF-8 编码重新保存：Excel 选“另存为 → CSV UTF-8（逗号分隔）”；WPS 另存时在“编码”中选 UTF-8；"
    "记事本或 VS Code 选“另存为/通过编码保存 → UTF-8”。",
)
BOM = register(
    "bom",
    Severity.WARNING,
    "文件开头带有 BOM（字节顺序标记）",
    "另存为“UTF-8（无 BOM）”；VS Code 右下角点编码选“通过编码保存 → UTF-8”。",
)
TAB_INDENT = register(
    "tab-indent",
    Severity.ERROR,
    "用制表符（Tab）缩进",
    "YAML 只能用空格缩进：把该行开头的 Tab 换成空格（建议每级 2 个空格），并把编辑器设为“用空格代替 Tab”。",
)
YAML_SYNTAX = register(
    "yaml-syntax",
    Severity.ERROR,
    "YAML 语法错误，文件无法读取",
    "检查所指行及其上一行：冒号后要有空格、引号要成对、同级的键要对齐、列表项以“- ”开头。",
)
YAML_ALIASES = register(
    "yaml-aliases",
    Severity.ERROR,
    "锚点与引用（&名称、*名称）循环或展开后过大，文件无法读取",
    "数据文件用不到锚点和引用：把“*名称”换成它所指的内容写出来；锚点不能引用它自己。",
)
DUPLICATE_KEY = register(
    "duplicate-key",
    Severity.ERROR,
    "同一层级中同一个键出现了两次（后一个会悄悄覆盖前一个）",
    "删除其中一个，或把两处内容合并到一处。",
)
EMPTY_FILE = register("empty-file", Severity.ERROR, "文件是空的", "填写内容，或删除这个文件。")
NOT_A_MAPPING = register(
    "wrong-structure",
    Severity.ERROR,
    "结构不对：此处应为“键: 值”形式的映射或“- ”开头的列表",
    "对照数据字典中的示例调整缩进和结构。",
)
UNKNOWN_KEY = register(
    "unknown-key",
    Severity.ERROR,
    "未知的键（数据字典中没有这个字段）",
    "检查拼写；数据字典列出了每类数据允许的字段。",
)
UNEXPECTED_FILE = register(
    "unexpected-file",
    Severity.ERROR,
    "文件放在了不认识的位置或扩展名不对，不会被读取",
    "把文件移到数据字典所列的文件夹中，YAML 文件扩展名用 .yaml，事件记录用 .csv 或 .parquet。",
)
UNREADABLE = register(
    "unreadable-file", Severity.ERROR, "文件无法读取", "检查文件权限，或确认文件没有损坏。"
)
PARENT_MISMATCH = register(
    "parent-mismatch",
    Severity.ERROR,
    "嵌套条目中填写的上级编号与所在文件不一致",
    "嵌套在文件中的条目自动属于该文件的实体：删除这个键，或把条目移到正确的文件中。",
)


class Scalar(NamedTuple):
    """One YAML scalar: the value YAML resolved, the text as typed, and where it is."""

    value: Any  # None, bool, int, float, str, date, datetime; str for an impossible timestamp
    text: str  # the characters the editor typed (without quotes)
    kind: str  # "null", "bool", "int", "float", "timestamp", "bad-timestamp", "str"
    line: int  # 1-based
    column: int  # 1-based


class Compound(NamedTuple):
    """A list or mapping where a scalar (or list of scalars) was expected."""

    kind: str  # "seq" or "map"
    items: tuple[Any, ...]  # Scalars (or Compounds) for a sequence; empty for a mapping
    line: int
    column: int


Value = Scalar | Compound


@dataclass(slots=True)
class RawRow:
    """One row of a table, as read from a YAML file, before type casting."""

    resource: str
    file: str  # display path, relative to the repository root (or the data folder's parent)
    line: int  # 1-based line where the record starts
    prefix: str  # key-path prefix: "" for a whole file, "grids[2]" for a nested item
    values: dict[str, Value | None] = field(default_factory=dict)
    filled: set[str] = field(default_factory=set)  # fields filled from the file, not typed

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def where(self, name: str) -> tuple[int, int | None]:
        value = self.values.get(name)
        if value is not None and name not in self.filled:
            return value.line, value.column
        return self.line, None


def display_root(data_dir: Path) -> Path:
    """The folder issue paths are relative to: the git repository root, else the data folder's parent."""
    data_dir = data_dir.resolve()
    for parent in (data_dir, *data_dir.parents):
        if (parent / ".git").exists():
            return parent
    return data_dir.parent


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (resolved), as issues show it. An absolute path found by
    walking a resolved data folder is already inside ``root`` and is not resolved again (a
    thousand files' worth of system calls)."""
    if path.is_absolute():
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# ---------------------------------------------------------------------------- bytes → text


def decode_text(data: bytes, file: str) -> tuple[str | None, list[Issue]]:
    """Decode a UTF-8 file; say so in Chinese when it is GBK (Excel/WPS), UTF-16 or has a BOM."""
    issues: list[Issue] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        issues.append(
            Issue.of(
                NOT_UTF8,
                file,
                1,
                "",
                "文件是 UTF-16（Excel“Unicode 文本”）编码，不是 UTF-8。",
            )
        )
        return None, issues
    if data.startswith(b"\xef\xbb\xbf"):
        issues.append(
            Issue.of(BOM, file, 1, "", "文件开头有 UTF-8 BOM（Windows 记事本或 Excel 常会加上）。")
        )
        data = data[3:]
    try:
        return data.decode("utf-8"), issues
    except UnicodeDecodeError as exc:
        issues.append(not_utf8_issue(data, exc.start, file))
        return None, issues


def not_utf8_issue(data: bytes, bad_offset: int, file: str, line_offset: int = 0) -> Issue:
    """A not-utf8 issue at the first bad byte, recognising GBK/GB18030 as saved by Excel or WPS."""
    line = data.count(b"\n", 0, bad_offset) + 1 + line_offset
    start = data.rfind(b"\n", 0, bad_offset) + 1
    column = len(data[start:bad_offset].decode("utf-8", "replace")) + 1
    end = data.find(b"\n", bad_offset)
    snippet = data[start : end if end >= 0 else len(data)][:200]
    try:
        sample = data[: 1 << 20].decode("gb18030")
        gbk = any("\u4e00" <= ch <= "\u9fff" for ch in sample)
    except UnicodeDecodeError:
        gbk = False
    if gbk:
        shown = snippet.decode("gb18030", "replace").strip()[:40]
        message = (
            f"文件是 GBK/GB18030 编码（Excel 或 WPS 保存中文时的默认编码），不是 UTF-8；"
            f"第 {line} 行按 GBK 读出来是“{shown}”。"
        )
    else:
        message = f"第 {line} 行第 {column} 个字符处有不是 UTF-8 的字节，文件编码不对或已损坏。"
    return Issue.of(NOT_UTF8, file, line, "", message, column=column)


# ---------------------------------------------------------------------------- YAML → values

_SYNTAX_TRANSLATIONS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "此处不能出现“键: 值”；若值里含有冒号，请给整个值加引号"),
    ("could not find expected ':'", "缺少冒号“:”，或上一行的引号没有闭合"),
    ("did not find expected key", "缩进不对齐，或上一行的引号没有闭合"),
    ("did not find expected '-' indicator", "列表项缩进不一致，每一项都应以同样缩进的“- ”开头"),
    ("found unexpected end of stream", "文件在引号或括号闭合之前就结束了"),
    ("found undefined alias", "引用了未定义的锚点（*名称）"),
    (
        "found character that cannot start any token",
        "这里有不能出现在 YAML 中的字符（例如 Tab、@ 或 `）；含特殊字符的值请加引号",
    ),
    ("found unknown escape character", "双引号中的反斜杠“\\”需写成“\\\\”，或改用单引号"),
    ("expected <block end>, but found", "缩进不对齐：同级的键必须从同一列开始"),
    ("found unexpected ':'", "多了一个冒号；若值里含有冒号，请给整个值加引号"),
    ("while scanning a quoted scalar", "引号没有闭合"),
    ("while scanning a simple key", "这一行缺少冒号“:”"),
    ("while parsing a flow", "方括号或花括号没有闭合"),
)


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    text = f"{exc.context or ''} {exc.problem or ''}"
    for needle, chinese in _SYNTAX_TRANSLATIONS:
        if needle in text:
            return f"YAML 语法错误：{chinese}（解析器原文：{(exc.problem or exc.context or '').strip()}）。"
    return f"YAML 语法错误（解析器原文：{(exc.problem or exc.context or '').strip()}）。"


_constructor = yaml.SafeLoader("")  # only its construct_yaml_* helpers are used

_KIND_BY_TAG = {
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:timestamp": "timestamp",
    "tag:yaml.org,2002:str": "str",
}


_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def _scalar(node: yaml.ScalarNode) -> Scalar:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    kind = _KIND_BY_TAG.get(node.tag, "str")
    text = node.value
    if kind == "str":  # the common case, kept fast for 100,000s of files
        return Scalar(text, text, "str", line, column)
    try:
        if kind == "null":
            value: Any = None
        elif kind == "bool":
            value = _constructor.construct_yaml_bool(node)
        elif kind == "int":
            value = (
                int(text) if _PLAIN_INT.fullmatch(text) else _constructor.construct_yaml_int(node)
            )
        elif kind == "float":
            value = _constructor.construct_yaml_float(node)
        elif len(text) == 10:  # a date: 2026-03-01
            value = dt.date.fromisoformat(text)
        else:
            value = _constructor.construct_yaml_timestamp(node)
    except (ValueError, OverflowError):
        kind, value = ("bad-timestamp" if kind == "timestamp" else "str"), text
    return Scalar(value, text, kind, line, column)


class _Structure:
    """Turns composed YAML nodes into values, reporting duplicate keys on the way."""

    def __init__(self, file: str, issues: list[Issue]):
        self.file = file
        self.issues = issues

    def mapping(self, node: yaml.MappingNode, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key text → (key node, value node); duplicates reported, the first one kept."""
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.append(
                    Issue.of(
                        NOT_A_MAPPING,
                        self.file,
                        key_node.start_mark.line + 1,
                        path,
                        "键不能是列表或映射。",
                        column=key_node.start_mark.column + 1,
                    )
                )
                continue
            name = key_node.value
            if name in out:
                first = out[name][0].start_mark.line + 1
                key = f"{path}.{name}" if path else name
                self.issues.append(
                    Issue.of(
                        DUPLICATE_KEY,
                        self.file,
                        key_node.start_mark.line + 1,
                        key,
                        f"键“{name}”在第 {first} 行已经出现过，这里又出现一次。",
                        hint=f"删除其中一处，或把第 {first} 行和这一行的内容合并。",
                        column=key_node.start_mark.column + 1,
                    )
                )
                continue
            out[name] = (key_node, value_node)
        return out

    def value(self, node: yaml.Node) -> Value | None:
        if isinstance(node, yaml.ScalarNode):
            scalar = _scalar(node)
            return None if scalar.kind == "null" else scalar
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if isinstance(node, yaml.SequenceNode):
            items = tuple(self.value(item) for item in node.value)
            return Compound("seq", tuple(i for i in items if i is not None), line, column)
        return Compound("map", (), line, column)


def _first_leading_tab(text: str, up_to_line: int | None = None) -> tuple[int, int] | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if up_to_line is not None and number > up_to_line:
            break
        stripped = line.lstrip(" \t")
        lead = line[: len(line) - len(stripped)]
        if "\t" in lead and stripped:
            return number, lead.index("\t") + 1
    return None


# An alias is a pointer, so a few lines can stand for billions of nodes ("billion laughs") or for
# a loop (an anchor used inside itself). Anything that walks the document would then never end.
MAX_EXPANDED_NODES = 200_000  # a community with 100 grids and its organisations has ~2,000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def alias_problem(root: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> tuple[str, yaml.Node] | None:
    """A loop, or more than ``limit`` nodes once aliases are expanded: (Chinese message, where).

    Counts without expanding: each node's expanded size is computed once (iteratively, so no
    depth of nesting can exhaust the stack).
    """
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root to the node being counted
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted_children = stack.pop()
        key = id(node)
        if counted_children:
            open_nodes.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > limit:
                return f"锚点与引用展开后超过 {limit:,} 项（“引用炸弹”），文件不予读取。", node
            size[key] = total
            continue
        if key in size:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                return "锚点在它自己的内容里被引用（循环引用），无法展开。", child
            if id(child) not in size:
                stack.append((child, False))
    return None


class AliasError(yaml.MarkedYAMLError):
    """A loop of anchors or an alias bomb (``alias_problem``); the message is Chinese."""

    def __init__(self, message: str, mark: yaml.Mark):
        super().__init__(problem=message, problem_mark=mark)


def compose_yaml(text: str) -> yaml.Node | None:
    """Compose one YAML document; ``yaml.YAMLError`` for bad syntax, loops and alias bombs."""
    node = yaml.compose(text, Loader=_Loader)
    check_aliases(node, text)
    return node


def check_aliases(node: yaml.Node | None, text: str) -> None:
    """Raise ``AliasError`` for a loop of anchors or an alias bomb under ``node``.

    Every alias is written ``*name``: a document without a ``*`` has none, and is not walked
    (the walk costs half as much again as composing, on every one of 100,000s of files).
    """
    if node is None or "*" not in text:
        return
    problem = alias_problem(node)
    if problem is not None:
        message, where = problem
        raise AliasError(message, where.start_mark)


_TypedLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # YAML 1.1 types; libyaml caps nesting


def load_document(text: str) -> tuple[yaml.Node | None, Any]:
    """One YAML document as nodes and as Python values (YAML 1.1 types: dates, numbers).

    Raises ``yaml.YAMLError`` for every problem, including loops of anchors, alias bombs and
    values PyYAML's constructor fails on with other exceptions (``!!int`` with no digits,
    a ``!!timestamp`` in month 13 or not a date at all).
    """
    loader = _TypedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_aliases(node, text)
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's constructors fail on odd tagged values in many ways
            raise yaml.constructor.ConstructorError(
                problem=f"有无法识别的值（{type(exc).__name__}: {exc}）",
                problem_mark=node.start_mark,
            ) from None
    finally:
        loader.dispose()
    return node, data


def parse_yaml(text: str, file: str) -> tuple[yaml.Node | None, list[Issue]]:
    """Compose a YAML document into nodes (with marks); syntax errors and tabs become issues."""
    try:
        return compose_yaml(text), []
    except AliasError as exc:
        mark = exc.problem_mark
        return None, [
            Issue.of(
                YAML_ALIASES, file, mark.line + 1, "", str(exc.problem), column=mark.column + 1
            )
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        tab = _first_leading_tab(text, line)
        if tab is not None:
            return None, [
                Issue.of(
                    TAB_INDENT,
                    file,
                    tab[0],
                    "",
                    f"第 {tab[0]} 行用 Tab 缩进，YAML 不允许 Tab。",
                    column=tab[1],
                )
            ]
        column = mark.column + 1 if mark else None
        return None, [Issue.of(YAML_SYNTAX, file, line, "", _syntax_message(exc), column=column)]
    except yaml.YAMLError as exc:  # e.g. a stray control character
        return None, [Issue.of(YAML_SYNTAX, file, None, "", f"YAML 语法错误：{exc}")]


# ---------------------------------------------------------------------------- flattening


def did_you_mean(
    word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6
) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    if not matches and word.lower() != word:
        matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=cutoff)
    return matches[0] if matches else None


class Flattener:
    """Turns one entity file's composed nodes into rows of its table and its child tables."""

    def __init__(self, field_names: dict[str, tuple[str, ...]]):
        self.field_names = field_names  # resource → its field names, from the Data Package

    def flatten(
        self, source: EntitySource, root: yaml.Node, file: str, entity_id: str | None
    ) -> tuple[list[RawRow], list[Issue]]:
        issues: list[Issue] = []
        rows: list[RawRow] = []
        structure = _Structure(file, issues)
        if not isinstance(root, yaml.MappingNode):
            issues.append(
                Issue.of(
                    NOT_A_MAPPING,
                    file,
                    root.start_mark.line + 1,
                    "",
                    "文件的最外层应是“键: 值”的映射（每行一个字段），而不是列表或单个值。",
                )
            )
            return rows, issues
        nested = {n.key: n for n in source.nested}
        fill = (source.id_field, entity_id) if source.id_field and entity_id is not None else None
        row = self._row(
            source.resource, root, "", file, structure, nested, rows, issues, parent=None, fill=fill
        )
        rows.insert(0, row)
        return rows, issues

    def _row(
        self,
        resource: str,
        node: yaml.MappingNode,
        prefix: str,
        file: str,
        structure: _Structure,
        nested: dict[str, Nested],
        out: list[RawRow],
        issues: list[Issue],
        parent: tuple[Nested, RawRow, int] | None,
        fill: tuple[str, str] | None = None,
    ) -> RawRow:
        fields = self.field_names[resource]
        row = RawRow(resource, file, node.start_mark.line + 1, prefix)
        children: list[tuple[Nested, yaml.Node]] = []
        for name, (key_node, value_node) in structure.mapping(node, prefix).items():
            if name in nested:
                children.append((nested[name], value_node))
            elif name in fields:
                row.values[name] = structure.value(value_node)
            else:
                allowed = [*fields, *nested]
                if parent is not None:
                    allowed = [f for f in allowed if f != parent[0].parent_field]
                suggestion = did_you_mean(name, allowed)
                hint = f"是不是“{suggestion}”？" if suggestion else None
                where = f"{prefix}.{name}" if prefix else name
                issues.append(
                    Issue.of(
                        UNKNOWN_KEY,
                        file,
                        key_node.start_mark.line + 1,
                        where,
                        f"“{name}”不是{_TITLE.get(resource, resource)}的字段。",
                        hint=(hint + "（可用字段见数据字典）") if hint else None,
                        column=key_node.start_mark.column + 1,
                    )
                )
        if fill is not None and row.values.get(fill[0]) is None:
            # the file name is the id; an id key, when present, is compared by the validate stage
            row.values[fill[0]] = Scalar(fill[1], fill[1], "str", row.line, 1)
            row.filled.add(fill[0])
        if parent is not None:
            spec, parent_row, position = parent
            self._link_child(row, spec, parent_row, position, file, issues)
        for spec, value_node in children:
            self._children(spec, value_node, row, prefix, file, structure, out, issues)
        return row

    def _link_child(
        self,
        row: RawRow,
        spec: Nested,
        parent_row: RawRow,
        position: int,
        file: str,
        issues: list[Issue],
    ) -> None:
        parent_id = parent_row.values.get("id") if parent_row.resource != "districts" else None
        typed = row.values.get(spec.parent_field)
        if typed is not None and parent_id is not None and isinstance(typed, Scalar):
            if typed.text != getattr(parent_id, "text", None):
                issues.append(
                    Issue.of(
                        PARENT_MISMATCH,
                        file,
                        typed.line,
                        row.key(spec.parent_field),
                        f"这一条嵌套在“{parent_id.text}”的文件中，却写着 {spec.parent_field}: {typed.text}。",
                        column=typed.column,
                    )
                )
        if parent_id is not None:
            row.values[spec.parent_field] = parent_id
            row.filled.add(spec.parent_field)
        if spec.seq_field and row.values.get(spec.seq_field) is None:
            row.values[spec.seq_field] = Scalar(position, str(position), "int", row.line, 1)
            row.filled.add(spec.seq_field)

    def _children(
        self,
        spec: Nested,
        node: yaml.Node,
        parent_row: RawRow,
        prefix: str,
        file: str,
        structure: _Structure,
        out: list[RawRow],
        issues: list[Issue],
    ) -> None:
        key = f"{prefix}.{spec.key}" if prefix else spec.key
        if isinstance(node, yaml.ScalarNode) and _scalar(node).kind == "null":
            return  # "grids:" with nothing under it: no rows
        if not isinstance(node, yaml.SequenceNode):
            issues.append(
                Issue.of(
                    NOT_A_MAPPING,
                    file,
                    node.start_mark.line + 1,
                    key,
                    f"“{spec.key}”应是列表：每一项另起一行，以“- ”开头。",
                    column=node.start_mark.column + 1,
                )
            )
            return
        # the parent's id may be filled from the file name after this runs; link lazily
        for position, item in enumerate(node.value, start=1):
            item_prefix = f"{key}[{position}]"
            if not isinstance(item, yaml.MappingNode):
                issues.append(
                    Issue.of(
                        NOT_A_MAPPING,
                        file,
                        item.start_mark.line + 1,
                        item_prefix,
                        f"“{spec.key}”的每一项应是“键: 值”的映射。",
                        column=item.start_mark.column + 1,
                    )
                )
                continue
            child = self._row(
                spec.resource,
                item,
                item_prefix,
                file,
                structure,
                {},
                out,
                issues,
                parent=(spec, parent_row, position),
            )
            out.append(child)


_TITLE: dict[str, str] = {}  # resource → Chinese title, filled by set_titles from the package


# ---------------------------------------------------------------------------- the data folder


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: EntitySource | None  # None for case files
    entity_id: str | None


def discover(data_dir: Path, root: Path) -> tuple[list[FoundFile], list[Path], list[Issue]]:
    """Every entity file and case file, in path order; misplaced files become issues."""
    folders = {s.folder: s for s in ENTITY_SOURCES if s.folder}
    singles = {s.single_file: s for s in ENTITY_SOURCES if s.single_file}
    entities: list[FoundFile] = []
    cases: list[Path] = []
    issues: list[Issue] = []
    for dirpath, dirnames, filenames in os.walk(data_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        here = Path(dirpath)
        parts = here.relative_to(data_dir).parts
        top = parts[0] if parts else ""
        if top in DELEGATED_FOLDERS:
            continue
        for name in sorted(filenames):
            if name.startswith(".") or name.lower().endswith(".md"):
                continue
            path = here / name
            if not parts:
                if name == PACKAGE_FILE:
                    continue
                if name in singles:
                    entities.append(FoundFile(path, singles[name], None))
                    continue
            elif top == CASES_FOLDER and path.suffix.lower() in CASE_SUFFIXES:
                cases.append(path)
                continue
            elif top in folders and name.endswith(".yaml"):
                entities.append(FoundFile(path, folders[top], path.stem))
                continue
            issues.append(_unexpected(path, top, name, rel(path, root), set(folders)))
    return entities, cases, issues


def _unexpected(path: Path, top: str, name: str, file: str, folders: set[str]) -> Issue:
    suffix = path.suffix.lower()
    if suffix == ".yml":
        hint = f"把扩展名改为 .yaml（{path.stem}.yaml）。"
        message = "扩展名是 .yml，只有 .yaml 文件会被读取。"
    elif top == CASES_FOLDER and suffix in (".xlsx", ".xls", ".et", ".txt", ".tsv"):
        hint = "在 Excel 中“另存为 → CSV UTF-8（逗号分隔）”，或导出为 Parquet。"
        message = "事件记录只读取 .csv 和 .parquet 文件。"
    elif not top or top not in folders and top != CASES_FOLDER:
        guess = did_you_mean(top, sorted(folders | {CASES_FOLDER})) if top else None
        hint = f"是不是应放在 data/{guess}/ 中？" if guess else None
        message = (
            "data/ 下没有这个位置，文件不会被读取。"
            if top
            else "data/ 顶层只放 district.yaml 和 datapackage.yaml。"
        )
    else:
        hint = None
        message = "这个文件夹只读取 .yaml 文件。"
    return Issue.of(UNEXPECTED_FILE, file, None, "", message, hint=hint)


def read_entity_file(
    found: FoundFile, file: str, flattener: Flattener
) -> tuple[list[RawRow], list[Issue]]:
    try:
        data = found.path.read_bytes()
    except OSError as exc:
        return [], [Issue.of(UNREADABLE, file, None, "", f"无法读取：{exc.strerror or exc}。")]
    text, issues = decode_text(data, file)
    if text is None:
        return [], issues
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        issues.append(Issue.of(EMPTY_FILE, file, None, "", "文件没有任何内容。"))
        return [], issues
    node, parse_issues = parse_yaml(text, file)
    issues.extend(parse_issues)
    if node is None:
        return [], issues
    rows, flat_issues = flattener.flatten(found.source, node, file, found.entity_id)
    issues.extend(flat_issues)
    return rows, issues


def set_titles(titles: dict[str, str]) -> None:
    """The tables' Chinese titles, from the package, for the flattener's messages."""
    _TITLE.update(titles)


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_date_shaped(text: str) -> bool:
    return bool(_DATE_RE.match(text))
