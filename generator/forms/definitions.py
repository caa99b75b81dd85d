"""Load and check the form definitions in ``data/forms/*.yaml``.

Every problem becomes an ``Issue`` with the file, the line and column of the YAML node, the key
path and a Chinese message with a hint; all problems are collected before anyone decides.
``check_forms`` is the validator's plug-in (``generator.validate.EXTRA_CHECKS``); ``load_forms``
returns the typed forms for the portal, the intake service and the CLI.

Files whose names start with ``_`` are not forms: ``_settings.yaml`` holds the default intake
endpoint. Published aggregates live in ``data/forms/_results/<form id>.json`` (written by
``gongzhi forms ingest``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from generator.forms.model import (
    HONEYPOT,
    MULTI_SEPARATOR,
    NEXT,
    ChoiceCount,
    Delivery,
    ExternalForm,
    Field,
    FieldKind,
    FieldResult,
    Form,
    FormKind,
    FormResults,
    Option,
    OptionsSource,
    Owner,
    OwnerKind,
    Privacy,
    ResultGroup,
)
from generator.forms.rules import RESPONSE_ID, SUBMITTED_AT, compile_pattern
from generator.issues import Issue, Severity, register
from generator.load import UNREADABLE, load_document, not_utf8_issue
from generator.model import Dataset, Source

FORMS_FOLDER = "forms"
RESULTS_FOLDER = "forms/_results"  # under data/; the loader leaves data/forms/ to this module
SETTINGS_FILE = "_settings.yaml"
DEV_ENDPOINT = "http://127.0.0.1:8787"
ENDPOINT_VARIABLE = "GONGZHI_INTAKE_URL"  # `gongzhi intake serve` on the editor's machine

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FIELD_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_NAMES = {RESPONSE_ID, SUBMITTED_AT, HONEYPOT, NEXT}
# Python-only regular expression syntax that the browser's RegExp would read differently.
PYTHON_ONLY_SYNTAX = re.compile(r"\(\?P|\(\?#|\\A|\\Z|\(\?[aiLmsux-]+[:)]|\*\+|\+\+|\?\+|\}\+")

# --- the catalogue -------------------------------------------------------------------------

E, W = Severity.ERROR, Severity.WARNING
YAML_SYNTAX = register(
    "form-yaml-syntax", E, "表单定义文件不是合法的 YAML", "检查缩进与冒号，字符串中含冒号时加引号"
)
BAD_STRUCTURE = register(
    "form-bad-structure",
    E,
    "表单定义的结构不对（应为键值对或列表）",
    "对照 data/forms/ 中的示例调整结构",
)
UNKNOWN_KEY = register("form-unknown-key", E, "表单定义中有未知的键", "更正拼写，或删除该键")
MISSING_KEY = register("form-missing-key", E, "表单定义缺少必填的键", "补上该键")
BAD_TYPE = register("form-bad-type", E, "值的类型不对", "按提示改为文本、整数、日期或是/否")
BAD_ID = register(
    "form-bad-id",
    E,
    "表单编号不合规或与文件名不一致",
    "编号用小写字母、数字和连字符，并与文件名相同",
)
BAD_ENUM = register("form-bad-enum", E, "值不在可选范围内", "从提示列出的可选值中选一个")
CLOSE_BEFORE_OPEN = register(
    "form-close-before-open", E, "截止日期早于开始日期", "更正 opens 或 closes"
)
DUPLICATE_FIELD = register(
    "form-duplicate-field", E, "字段名重复", "每个字段的 name 在表单内须唯一"
)
BAD_FIELD_NAME = register(
    "form-bad-field-name",
    E,
    "字段名不合规或为保留名",
    "字段名用小写字母开头，只含小写字母、数字和下划线；不能用 response_id、submitted_at、_hp、_next",
)
MISSING_OPTIONS = register(
    "form-missing-options",
    E,
    "选择题没有选项",
    "在 options 中列出选项，或用 options_from: projects",
)
BAD_OPTION = register(
    "form-bad-option", E, "选项重复、为空或含竖线“|”", "删除重复或空的选项，选项中不要用“|”"
)
BAD_PATTERN = register(
    "form-bad-pattern",
    E,
    "格式规则（pattern）无法编译，或用了浏览器不支持的写法",
    "改正正则表达式；不要用 (?P<…>)、\\A、\\Z 等 Python 专有写法",
)
PATTERN_UNDESCRIBED = register(
    "form-pattern-undescribed",
    W,
    "格式规则没有中文说明",
    "加上 pattern_description，告诉居民该怎么填，如“楼号-单元-室，如 3-2-501”",
)
NOT_APPLICABLE = register(
    "form-constraint-not-applicable",
    E,
    "该约束不适用于此字段类型",
    "删除该约束，或改用适合该类型的约束",
)
BAD_RANGE = register(
    "form-bad-range",
    E,
    "约束的下限大于上限",
    "更正 min/max、min_length/max_length 或 min_choices/max_choices",
)
UNKNOWN_OWNER = register(
    "form-unknown-owner",
    E,
    "表单所属的村社、议事会、项目或评选不存在",
    "更正 owner.id，或先在 data/ 中添加该对象",
)
BAD_URL = register("form-bad-url", E, "网址不合规", "填写以 http:// 或 https:// 开头的完整网址")
NO_DELIVERY = register(
    "form-no-delivery",
    E,
    "表单没有提交方式",
    "删除 delivery.endpoint: none 以使用默认接收服务，或填写 delivery.external.url",
)
NO_CONSENT = register(
    "form-no-consent",
    W,
    "表单收集个人信息却没有同意勾选项",
    "加一个 kind: 同意 的必填字段，让居民确认已阅读隐私说明",
)
UNKNOWN_PREFILL = register(
    "form-unknown-prefill",
    E,
    "外部表单的预填参数指向不存在的字段",
    "prefill 的值须为本表单某字段的 prefill 名或字段名",
)
RESULTS_UNREADABLE = register(
    "form-results-unreadable",
    E,
    "汇总结果文件无法读取",
    "用 gongzhi forms ingest 重新生成 data/forms/_results/ 中的文件",
)
NO_DATA_OPTIONS = register(
    "form-no-data-options",
    E,
    "选项来自数据（options_from），但发起方范围内没有可选的对象",
    "检查 owner 是否正确，或先在 data/projects/ 中添加该村社或镇街的项目",
)
RESULTS_ORPHAN = register(
    "form-results-orphan", W, "汇总结果对应的表单不存在", "删除该结果文件，或恢复对应的表单定义"
)


# --- YAML with node marks ------------------------------------------------------------------


@dataclass
class Marks:
    """Line and column (1-based) of every value and every key, by key path."""

    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: str, key: bool = False) -> tuple[int | None, int | None]:
        table = self.keys if key else self.values
        while True:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return None, None
            path = _parent(path)


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _walk(root: yaml.Node, marks: Marks) -> None:
    """Record where every key and value is (iteratively: nesting cannot exhaust the stack)."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        marks.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = _child(path, str(key_node.value))
                marks.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, _child(path, index)) for index, item in enumerate(node.value))


def load_yaml(text: str) -> tuple[Any, Marks]:
    """Parse YAML safely, keeping where each value is. Raises ``yaml.YAMLError`` (also for
    loops of anchors and alias bombs, see ``load.load_document``)."""
    node, data = load_document(text)
    marks = Marks()
    if node is not None:
        _walk(node, marks)
    return data, marks


# --- reading one definition ----------------------------------------------------------------

T = TypeVar("T")
L = TypeVar("L", bound=Enum)

FORM_KEYS = {
    "id": "编号", "title": "标题", "kind": "类别", "purpose": "目的", "owner": "所属",
    "audience": "面向", "opens": "开始日期", "closes": "截止日期", "fields": "字段",
    "privacy": "隐私说明", "delivery": "提交方式", "summary": "简介", "hand_in": "纸质版交回地点",
    "sample_data": "示例数据",
    "results_by": "结果分组字段",
}  # fmt: skip
FORM_REQUIRED = (
    "title",
    "kind",
    "purpose",
    "owner",
    "audience",
    "opens",
    "closes",
    "fields",
    "privacy",
)
OWNER_KEYS = {"kind": "类型", "id": "编号"}
PRIVACY_KEYS = {
    "purpose": "处理目的",
    "seen_by": "查看范围",
    "retention_days": "保存天数",
    "contact": "联系方式",
    "handler": "处理者",
}
PRIVACY_REQUIRED = ("purpose", "seen_by", "retention_days", "contact")
DELIVERY_KEYS = {"endpoint": "接收服务地址", "external": "外部表单"}
EXTERNAL_KEYS = {"url": "网址", "label": "按钮文字", "prefill": "预填参数"}
FIELD_KEYS = {
    "name": "字段名", "label": "标签", "kind": "类型", "required": "必填", "help": "说明",
    "options": "选项", "options_from": "选项来源", "min_length": "最少字数", "max_length": "最多字数",
    "pattern": "格式规则", "pattern_description": "格式说明", "min": "最小值", "max": "最大值",
    "integer": "只填整数", "min_date": "最早日期", "max_date": "最晚日期", "min_choices": "最少选几项",
    "max_choices": "最多选几项", "personal": "个人信息", "prefill": "预填参数名",
}  # fmt: skip
CONSTRAINTS_BY_KIND: dict[str, tuple[FieldKind, ...]] = {
    "min_length": (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT),
    "max_length": (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT),
    "pattern": (FieldKind.SHORT_TEXT,),
    "pattern_description": (FieldKind.SHORT_TEXT,),
    "min": (FieldKind.NUMBER,),
    "max": (FieldKind.NUMBER,),
    "integer": (FieldKind.NUMBER,),
    "min_date": (FieldKind.DATE,),
    "max_date": (FieldKind.DATE,),
    "min_choices": (FieldKind.MULTIPLE_CHOICE,),
    "max_choices": (FieldKind.MULTIPLE_CHOICE,),
    "options": (FieldKind.SINGLE_CHOICE, FieldKind.MULTIPLE_CHOICE),
    "options_from": (FieldKind.SINGLE_CHOICE,),
}

# English spellings accepted besides the Chinese labels.
ALIASES: dict[type[Enum], dict[str, Enum]] = {
    FieldKind: {
        "short_text": FieldKind.SHORT_TEXT, "text": FieldKind.SHORT_TEXT,
        "long_text": FieldKind.LONG_TEXT, "textarea": FieldKind.LONG_TEXT,
        "single_choice": FieldKind.SINGLE_CHOICE, "multiple_choice": FieldKind.MULTIPLE_CHOICE,
        "number": FieldKind.NUMBER, "date": FieldKind.DATE, "rating": FieldKind.RATING,
        "phone": FieldKind.PHONE, "手机号": FieldKind.PHONE, "consent": FieldKind.CONSENT,
    },
    OwnerKind: {
        "community": OwnerKind.COMMUNITY, "社区": OwnerKind.COMMUNITY, "村": OwnerKind.COMMUNITY,
        "council": OwnerKind.COUNCIL, "project": OwnerKind.PROJECT, "award": OwnerKind.AWARD,
    },
    FormKind: {},
    OptionsSource: {},
}  # fmt: skip


class _Reader:
    """Reads one parsed definition, collecting issues instead of stopping at the first."""

    def __init__(self, file: str, marks: Marks) -> None:
        self.file = file
        self.marks = marks
        self.issues: list[Issue] = []

    def issue(
        self, kind: Any, path: str, message: str, hint: str | None = None, key: bool = False
    ) -> None:
        line, column = self.marks.at(path, key=key)
        self.issues.append(Issue.of(kind, self.file, line, path, message, hint, column))

    def mapping(
        self, value: Any, path: str, allowed: dict[str, str], required: tuple[str, ...] = ()
    ) -> dict | None:
        if not isinstance(value, dict):
            self.issue(BAD_STRUCTURE, path, f"应为键值对（{_what(value)}）")
            return None
        for key in value:
            if str(key) not in allowed:
                guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = (
                    f"是否想写“{guess[0]}”（{allowed[guess[0]]}）？"
                    if guess
                    else "可用的键：" + "、".join(allowed)
                )
                self.issue(UNKNOWN_KEY, _child(path, str(key)), f"未知的键“{key}”", hint, key=True)
        for key in required:
            if value.get(key) in (None, "", []):
                self.issue(MISSING_KEY, path, f"缺少“{key}”（{allowed[key]}）", key=True)
        return value

    def text(self, data: dict, key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool | dict | list):
            self.issue(BAD_TYPE, _child(path, key), f"“{key}”应为文本（{_what(value)}）")
            return None
        return str(value).strip()

    def boolean(self, data: dict, key: str, path: str, default: bool = False) -> bool:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.issue(BAD_TYPE, _child(path, key), f"“{key}”应为 true 或 false（{_what(value)}）")
            return default
        return value

    def number(
        self, data: dict, key: str, path: str, integer: bool = False, minimum: float | None = None
    ) -> Any:
        value = data.get(key)
        if value is None:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            what = "整数" if integer else "数"
            self.issue(BAD_TYPE, _child(path, key), f"“{key}”应为{what}（{_what(value)}）")
            return None
        if minimum is not None and value < minimum:
            self.issue(BAD_TYPE, _child(path, key), f"“{key}”不能小于 {minimum:g}（现为 {value}）")
            return None
        return value

    def date(self, data: dict, key: str, path: str) -> dt.date | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.issue(
            BAD_TYPE, _child(path, key), f"“{key}”应为日期，写作 2026-11-28（{_what(value)}）"
        )
        return None

    def enum(self, data: dict, key: str, path: str, enum: type[L]) -> L | None:
        value = data.get(key)
        if value is None:
            return None
        text = str(value).strip()
        for member in enum:
            if text == member.value:
                return member
        alias = ALIASES.get(enum, {}).get(text.lower())
        if alias is not None:
            return alias  # type: ignore[return-value]
        choices = [str(m.value) for m in enum]
        guess = difflib.get_close_matches(
            text, choices + list(ALIASES.get(enum, {})), n=1, cutoff=0.5
        )
        hint = f"是否想写“{guess[0]}”？" if guess else None
        hint = (hint + " " if hint else "") + "可选值：" + "、".join(choices)
        self.issue(BAD_ENUM, _child(path, key), f"“{key}”的值“{text}”不在可选范围内", hint)
        return None

    def url(self, data: dict, key: str, path: str) -> str | None:
        value = self.text(data, key, path)
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            self.issue(BAD_URL, _child(path, key), f"“{value}”不是完整的网址")
            return None
        return value


def _what(value: Any) -> str:
    if value is None:
        return "现为空"
    if isinstance(value, bool):
        return "现为是/否"
    if isinstance(value, dict):
        return "现为键值对"
    if isinstance(value, list):
        return "现为列表"
    if isinstance(value, int | float):
        return f"现为数 {value}"
    if isinstance(value, dt.date):
        return f"现为日期 {value.isoformat()}"
    return f"现为“{value}”"


def _read_text(path: Path, file: str) -> tuple[str | None, list[Issue]]:
    """A definition file's text (a UTF-8 BOM is tolerated), or the issue saying why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Issue.of(UNREADABLE, file, None, "", f"无法读取：{exc.strerror or exc}。")]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [not_utf8_issue(data, exc.start, file)]


def read_form(path: Path, file: str, default_endpoint: str) -> tuple[Form | None, list[Issue]]:
    """Read one definition file. Returns the form (None if it cannot be built) and its issues."""
    text, unreadable = _read_text(path, file)
    if text is None:
        return None, unreadable
    try:
        data, marks = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [
            Issue.of(YAML_SYNTAX, file, line, "", f"YAML 语法错误：{problem}", column=column)
        ]
    r = _Reader(file, marks)
    top = r.mapping(data, "", FORM_KEYS, FORM_REQUIRED)
    if top is None:
        return None, r.issues
    form_id = r.text(top, "id", "") or path.stem
    if form_id != path.stem or not ID_PATTERN.match(form_id):
        r.issue(
            BAD_ID,
            "id",
            f"编号“{form_id}”须与文件名“{path.stem}”一致，且只含小写字母、数字和连字符",
        )
    title = r.text(top, "title", "")
    kind = r.enum(top, "kind", "", FormKind)
    purpose = r.text(top, "purpose", "")
    audience = r.text(top, "audience", "")
    opens = r.date(top, "opens", "")
    closes = r.date(top, "closes", "")
    if opens and closes and closes < opens:
        r.issue(
            CLOSE_BEFORE_OPEN,
            "closes",
            f"截止日期 {closes.isoformat()} 早于开始日期 {opens.isoformat()}",
        )
    owner = _read_owner(r, top.get("owner"))
    privacy = _read_privacy(r, top.get("privacy"))
    delivery = _read_delivery(r, top.get("delivery"), default_endpoint)
    fields = _read_fields(r, top.get("fields"))
    for index, item in enumerate(fields):
        _check_prefill_names(r, item, index)
    if delivery and delivery.external:
        prefill_names = {f.prefill for f in fields if f.prefill} | {f.name for f in fields}
        for param, source in delivery.external.prefill.items():
            if source not in prefill_names:
                r.issue(
                    UNKNOWN_PREFILL,
                    f"delivery.external.prefill.{param}",
                    f"预填参数“{param}”指向的“{source}”不是本表单的字段",
                )
    if any(f.personal for f in fields) and not any(
        f.kind is FieldKind.CONSENT and f.required for f in fields
    ):
        r.issue(
            NO_CONSENT,
            "fields",
            "本表单收集个人信息（标有 personal: true 的字段），但没有必填的同意勾选项",
            key=True,
        )
    hand_in = r.text(top, "hand_in", "")
    results_by = r.text(top, "results_by", "")
    if results_by is not None:
        group = next((f for f in fields if f.name == results_by), None)
        if group is None or group.kind is not FieldKind.SINGLE_CHOICE or group.personal:
            r.issue(
                NOT_APPLICABLE,
                "results_by",
                f"结果分组字段“{results_by}”须为本表单中非个人信息的单选字段",
            )
    summary = r.text(top, "summary", "")
    sample_data = r.boolean(top, "sample_data", "")
    if (
        None in (title, kind, purpose, audience, opens, closes, owner, privacy, delivery)
        or not fields
    ):
        return None, r.issues
    if any(i.severity is Severity.ERROR for i in r.issues):
        return None, r.issues
    form = Form(
        id=form_id, title=title, kind=kind, purpose=purpose, owner=owner, audience=audience,  # type: ignore[arg-type]
        opens=opens, closes=closes, fields=fields, privacy=privacy, delivery=delivery,  # type: ignore[arg-type]
        summary=summary, hand_in=hand_in, results_by=results_by, sample_data=sample_data, origin=Source(file, 1),
    )  # fmt: skip
    return form, r.issues


def _read_owner(r: _Reader, value: Any) -> Owner | None:
    if value is None:
        return None
    data = r.mapping(value, "owner", OWNER_KEYS, ("kind", "id"))
    if data is None:
        return None
    kind = r.enum(data, "kind", "owner", OwnerKind)
    owner_id = r.text(data, "id", "owner")
    if kind is None or owner_id is None:
        return None
    return Owner(kind, owner_id)


def _read_privacy(r: _Reader, value: Any) -> Privacy | None:
    if value is None:
        return None
    data = r.mapping(value, "privacy", PRIVACY_KEYS, PRIVACY_REQUIRED)
    if data is None:
        return None
    purpose = r.text(data, "purpose", "privacy")
    seen_by = r.text(data, "seen_by", "privacy")
    days = r.number(data, "retention_days", "privacy", integer=True, minimum=1)
    contact = r.text(data, "contact", "privacy")
    handler = r.text(data, "handler", "privacy")
    if None in (purpose, seen_by, days, contact):
        return None
    return Privacy(purpose, seen_by, days, contact, handler)  # type: ignore[arg-type]


def _read_delivery(r: _Reader, value: Any, default_endpoint: str) -> Delivery | None:
    if value is None:
        return Delivery(default_endpoint)
    data = r.mapping(value, "delivery", DELIVERY_KEYS)
    if data is None:
        return None
    if "endpoint" not in data:
        endpoint: str | None = default_endpoint
    elif data["endpoint"] in (None, False, "none", "无"):  # only the external form service
        endpoint = None
    else:
        endpoint = r.url(data, "endpoint", "delivery")
    external = None
    if data.get("external") is not None:
        ext = r.mapping(data["external"], "delivery.external", EXTERNAL_KEYS, ("url",))
        if ext is not None:
            url = r.url(ext, "url", "delivery.external")
            label = r.text(ext, "label", "delivery.external") or "前往填写"
            prefill: dict[str, str] = {}
            raw = ext.get("prefill")
            if raw is not None:
                mapping = r.mapping(
                    raw,
                    "delivery.external.prefill",
                    {str(k): "" for k in raw} if isinstance(raw, dict) else {},
                )
                for param, source in (mapping or {}).items():
                    prefill[str(param)] = str(source)
            if url:
                external = ExternalForm(url, label, prefill)
    no_endpoint = "endpoint" in data and data["endpoint"] in (None, False, "none", "无")
    if no_endpoint and external is None and data.get("external") is None:
        r.issue(
            NO_DELIVERY, "delivery", "没有提交方式：既没有接收服务地址，也没有外部表单", key=True
        )
    return Delivery(endpoint, external)


def _read_fields(r: _Reader, value: Any) -> list[Field]:
    if value is None:
        return []
    if not isinstance(value, list):
        r.issue(BAD_STRUCTURE, "fields", f"“fields”应为列表（{_what(value)}）")
        return []
    fields: list[Field] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(value):
        path = f"fields[{index}]"
        data = r.mapping(raw, path, FIELD_KEYS, ("name", "label", "kind"))
        if data is None:
            continue
        name = r.text(data, "name", path)
        if name is not None:
            if not FIELD_NAME_PATTERN.match(name) or name in RESERVED_NAMES:
                r.issue(BAD_FIELD_NAME, f"{path}.name", f"字段名“{name}”不合规或为保留名")
            elif name in names:
                r.issue(
                    DUPLICATE_FIELD,
                    f"{path}.name",
                    f"字段名“{name}”与第 {names[name] + 1} 个字段重复",
                )
            else:
                names[name] = index
        label = r.text(data, "label", path)
        kind = r.enum(data, "kind", path, FieldKind)
        if name is None or label is None or kind is None:
            continue
        for key, kinds in CONSTRAINTS_BY_KIND.items():
            if data.get(key) is not None and kind not in kinds:
                allowed = "、".join(k.value for k in kinds)
                r.issue(
                    NOT_APPLICABLE,
                    f"{path}.{key}",
                    f"“{key}”不适用于“{kind.value}”字段（只用于：{allowed}）",
                )
        item = Field(
            name=name, label=label, kind=kind,
            required=r.boolean(data, "required", path),
            help=r.text(data, "help", path),
            min_length=r.number(data, "min_length", path, integer=True, minimum=0),
            max_length=r.number(data, "max_length", path, integer=True, minimum=1),
            pattern=r.text(data, "pattern", path),
            pattern_description=r.text(data, "pattern_description", path),
            min=r.number(data, "min", path), max=r.number(data, "max", path),
            integer=r.boolean(data, "integer", path),
            min_date=r.date(data, "min_date", path), max_date=r.date(data, "max_date", path),
            min_choices=r.number(data, "min_choices", path, integer=True, minimum=0),
            max_choices=r.number(data, "max_choices", path, integer=True, minimum=1),
            personal=r.boolean(data, "personal", path, default=kind is FieldKind.PHONE),
            prefill=r.text(data, "prefill", path),
            line=r.marks.at(path)[0],
        )  # fmt: skip
        item.options_from = r.enum(data, "options_from", path, OptionsSource)
        item.options = _read_options(r, data.get("options"), f"{path}.options")
        if item.is_choice and not item.options and item.options_from is None:
            r.issue(MISSING_OPTIONS, path, f"“{label}”是选择题，但没有选项", key=True)
        if item.options and item.options_from is not None:
            r.issue(NOT_APPLICABLE, f"{path}.options_from", "options 与 options_from 只能用一个")
        _check_ranges(r, item, path)
        if item.pattern is not None and kind is FieldKind.SHORT_TEXT:
            _check_pattern(r, item, path)
        fields.append(item)
    return fields


def _read_options(r: _Reader, value: Any, path: str) -> list[Option]:
    if value is None:
        return []
    if not isinstance(value, list):
        r.issue(BAD_STRUCTURE, path, f"选项应为列表（{_what(value)}）")
        return []
    options: list[Option] = []
    seen: set[str] = set()
    for index, raw in enumerate(value):
        text = "" if raw is None or isinstance(raw, dict | list) else str(raw).strip()
        if not text or MULTI_SEPARATOR in text or text in seen:
            why = "为空" if not text else ("重复" if text in seen else "含竖线“|”")
            r.issue(BAD_OPTION, f"{path}[{index}]", f"第 {index + 1} 个选项{why}")
            continue
        seen.add(text)
        options.append(Option(text, text))
    return options


def _check_ranges(r: _Reader, item: Field, path: str) -> None:
    pairs = (
        ("min_length", "max_length", item.min_length, item.max_length),
        ("min", "max", item.min, item.max),
        ("min_date", "max_date", item.min_date, item.max_date),
        ("min_choices", "max_choices", item.min_choices, item.max_choices),
    )
    for low_key, high_key, low, high in pairs:
        if low is not None and high is not None and low > high:
            r.issue(
                BAD_RANGE, f"{path}.{high_key}", f"“{low_key}”（{low}）大于“{high_key}”（{high}）"
            )
    if item.max_choices is not None and item.options and item.max_choices > len(item.options):
        r.issue(
            BAD_RANGE,
            f"{path}.max_choices",
            f"最多选 {item.max_choices} 项，但只有 {len(item.options)} 个选项",
        )


def _check_pattern(r: _Reader, item: Field, path: str) -> None:
    assert item.pattern is not None
    try:
        compile_pattern(item.pattern)
    except re.error as exc:
        r.issue(BAD_PATTERN, f"{path}.pattern", f"格式规则“{item.pattern}”无法编译：{exc}")
        return
    if (
        PYTHON_ONLY_SYNTAX.search(item.pattern)
        or item.pattern.startswith("^")
        or item.pattern.endswith("$")
    ):
        r.issue(
            BAD_PATTERN, f"{path}.pattern",
            f"格式规则“{item.pattern}”用了浏览器不支持或多余的写法",
            "规则总是匹配整个值，不必写 ^ 与 $；不要用 (?P<…>)、\\A、\\Z、行内标志或占有量词",
        )  # fmt: skip
    if not item.pattern_description:
        r.issue(
            PATTERN_UNDESCRIBED,
            f"{path}.pattern",
            f"“{item.label}”的格式规则没有 pattern_description",
        )


def _check_prefill_names(r: _Reader, item: Field, index: int) -> None:
    if item.prefill is not None and not FIELD_NAME_PATTERN.match(item.prefill):
        r.issue(
            BAD_FIELD_NAME,
            f"fields[{index}].prefill",
            f"预填参数名“{item.prefill}”只能含小写字母、数字和下划线",
        )


# --- the whole folder ----------------------------------------------------------------------


def read_settings(data_dir: Path) -> tuple[str, list[Issue]]:
    """The default intake endpoint from ``data/forms/_settings.yaml`` (else the dev one)."""
    path = data_dir / FORMS_FOLDER / SETTINGS_FILE
    file = _display(path, data_dir)
    if not path.is_file():
        return DEV_ENDPOINT, []
    text, unreadable = _read_text(path, file)
    if text is None:
        return DEV_ENDPOINT, unreadable
    try:
        data, marks = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return DEV_ENDPOINT, [
            Issue.of(
                YAML_SYNTAX, file, mark.line + 1 if mark else None, "", f"YAML 语法错误：{exc}"
            )
        ]
    r = _Reader(file, marks)
    top = r.mapping(data or {}, "", {"endpoint": "默认接收服务地址"})
    endpoint = r.url(top, "endpoint", "") if top else None
    return endpoint or DEV_ENDPOINT, r.issues


def load_forms(
    data_dir: Path, dataset: Dataset | None = None, default_endpoint: str | None = None
) -> tuple[list[Form], list[Issue]]:
    """All valid forms (by id) with published results attached, and every issue found.

    The default intake endpoint (for forms that name none) is, in order: ``default_endpoint``,
    the ``GONGZHI_INTAKE_URL`` environment variable (e.g. set for the production build),
    ``data/forms/_settings.yaml``, then the local ``gongzhi intake serve``. With a ``dataset``,
    owners are checked and ``options_from`` choices filled.
    """
    settings_endpoint, issues = read_settings(data_dir)
    from_env = os.environ.get(ENDPOINT_VARIABLE, "").strip()
    if from_env and not re.match(r"^https?://[^\s/]+", from_env):
        issues.append(
            Issue.of(
                BAD_URL,
                f"${ENDPOINT_VARIABLE}",
                None,
                "",
                f"环境变量 {ENDPOINT_VARIABLE} 的值“{from_env}”不是完整的网址",
            )  # fmt: skip
        )
        from_env = ""
    endpoint = default_endpoint or from_env or settings_endpoint
    forms: list[Form] = []
    folder = data_dir / FORMS_FOLDER
    paths = (
        sorted(p for p in folder.rglob("*.yaml") if not p.name.startswith("_"))
        if folder.is_dir()
        else []
    )
    for path in paths:
        form, found = read_form(path, _display(path, data_dir), endpoint)
        issues.extend(found)
        if form is None:
            continue
        if dataset is not None:
            owner_issue = _check_owner(form, dataset, path, data_dir)
            if owner_issue:
                issues.append(owner_issue)
                continue
            resolve_options(form, dataset)
            empty = [f for f in form.fields if f.options_from is not None and not f.options]
            if empty:
                _, marks = load_yaml(path.read_text(encoding="utf-8-sig"))
                for item in empty:
                    index = form.fields.index(item)
                    line, column = marks.at(f"fields[{index}].options_from")
                    issues.append(
                        Issue.of(
                            NO_DATA_OPTIONS,
                            _display(path, data_dir),
                            line,
                            f"fields[{index}].options_from",
                            f"“{item.label}”的选项来自{item.options_from.value}，"
                            f"但{owner_name(form, dataset)}范围内一个也没有",
                            column=column,
                        )  # fmt: skip
                    )
                continue
        forms.append(form)
    defined = {p.stem for p in paths}
    issues.extend(_attach_results(data_dir, forms, defined))
    return forms, issues


def check_forms(data_dir: Path, dataset: Dataset | None) -> list[Issue]:
    """The validator's plug-in: every problem in ``data/forms/`` (definitions and ``_results/``)."""
    return load_forms(data_dir, dataset)[1]


def _display(path: Path, data_dir: Path) -> str:
    try:
        return path.relative_to(data_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()


def owner_table(dataset: Dataset, kind: OwnerKind) -> dict[str, Any]:
    return {
        OwnerKind.COMMUNITY: dataset.communities,
        OwnerKind.COUNCIL: dataset.councils,
        OwnerKind.PROJECT: dataset.projects,
        OwnerKind.AWARD: dataset.awards,
    }[kind]


def _check_owner(form: Form, dataset: Dataset, path: Path, data_dir: Path) -> Issue | None:
    table = owner_table(dataset, form.owner.kind)
    if form.owner.id in table:
        return None
    _, marks = load_yaml(path.read_text(encoding="utf-8-sig"))
    line, column = marks.at("owner.id")
    guess = difflib.get_close_matches(form.owner.id, list(table), n=1, cutoff=0.6)
    hint = f"是否想写“{guess[0]}”？" if guess else None
    return Issue.of(
        UNKNOWN_OWNER, _display(path, data_dir), line, "owner.id",
        f"未找到{form.owner.kind.value}“{form.owner.id}”", hint, column,
    )  # fmt: skip


def owner_name(form: Form, dataset: Dataset) -> str:
    record = owner_table(dataset, form.owner.kind).get(form.owner.id)
    if record is None:
        return form.owner.id
    return getattr(record, "name", None) or getattr(record, "title", None) or form.owner.id


def owner_community(form: Form, dataset: Dataset) -> Any:
    """The community whose office takes the paper version, when the owner has one."""
    record = owner_table(dataset, form.owner.kind).get(form.owner.id)
    if record is None:
        return None
    if form.owner.kind is OwnerKind.COMMUNITY:
        return record
    community_id = getattr(record, "community", None)
    return dataset.communities.get(community_id) if community_id else None


def projects_in_reach(form: Form, dataset: Dataset) -> list[Any]:
    """Projects a form about projects may name: the owner's own, or those in its area."""
    kind, owner_id = form.owner.kind, form.owner.id
    projects = list(dataset.projects.values())
    if kind is OwnerKind.PROJECT:
        return [p for p in projects if p.id == owner_id]
    if kind is OwnerKind.COMMUNITY:
        return [p for p in projects if p.community == owner_id]
    if kind is OwnerKind.COUNCIL:
        council = dataset.councils.get(owner_id)
        if council is None:
            return []
        if council.community:
            return [p for p in projects if p.community == council.community]
        if council.street:
            communities = {c.id for c in dataset.communities.values() if c.street == council.street}
            return [p for p in projects if p.community in communities]
    return projects


def resolve_options(form: Form, dataset: Dataset) -> None:
    """Fill ``options_from`` choices from the dataset (value = id, label = title)."""
    for item in form.fields:
        if item.options_from is OptionsSource.PROJECTS:
            item.options = [Option(p.id, p.title) for p in projects_in_reach(form, dataset)]


# --- published results ---------------------------------------------------------------------


def results_path(data_dir: Path, form_id: str) -> Path:
    return data_dir / RESULTS_FOLDER / f"{form_id}.json"


def results_to_json(results: FormResults) -> dict[str, Any]:
    return {
        "form": results.form,
        "n": results.n,
        "generated_on": results.generated_on.isoformat(),
        "group_field": results.group_field,
        "overall": _group_to_json(results.overall),
        "groups": [_group_to_json(g) for g in results.groups],
    }


def _group_to_json(group: ResultGroup) -> dict[str, Any]:
    return {
        "value": group.value,
        "label": group.label,
        "n": group.n,
        "suppressed": group.suppressed,
        "fields": [
            {
                "name": f.name, "label": f.label, "kind": f.kind.value, "n": f.n,
                "suppressed": f.suppressed, "mean": f.mean,
                "counts": [{"value": c.value, "label": c.label, "count": c.count} for c in f.counts],
            }
            for f in group.fields
        ],
    }  # fmt: skip


def _group_from_json(data: dict[str, Any]) -> ResultGroup:
    return ResultGroup(
        value=None if data.get("value") is None else str(data["value"]),
        label=str(data["label"]),
        n=int(data["n"]),
        suppressed=bool(data["suppressed"]),
        fields=[
            FieldResult(
                name=str(f["name"]), label=str(f["label"]), kind=FieldKind(f["kind"]),
                n=int(f["n"]), suppressed=bool(f["suppressed"]),
                mean=None if f.get("mean") is None else float(f["mean"]),
                counts=[ChoiceCount(str(c["value"]), str(c["label"]), int(c["count"])) for c in f.get("counts", [])],
            )
            for f in data.get("fields", [])
        ],
    )  # fmt: skip


def results_from_json(data: dict[str, Any]) -> FormResults:
    """Raises KeyError, TypeError or ValueError on a malformed file."""
    return FormResults(
        form=str(data["form"]),
        n=int(data["n"]),
        generated_on=dt.date.fromisoformat(data["generated_on"]),
        overall=_group_from_json(data["overall"]),
        group_field=data.get("group_field"),
        groups=[_group_from_json(g) for g in data.get("groups", [])],
    )


def _attach_results(data_dir: Path, forms: list[Form], defined: set[str]) -> list[Issue]:
    folder = data_dir / RESULTS_FOLDER
    if not folder.is_dir():
        return []
    issues: list[Issue] = []
    by_id = {form.id: form for form in forms}
    for path in sorted(folder.glob("*.json")):
        file = _display(path, data_dir)
        if path.stem not in defined:
            issues.append(
                Issue.of(RESULTS_ORPHAN, file, None, "", f"没有编号为“{path.stem}”的表单")
            )
            continue
        try:
            results = results_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            issues.append(Issue.of(RESULTS_UNREADABLE, file, None, "", f"无法读取汇总结果：{exc}"))
            continue
        if path.stem in by_id:
            by_id[path.stem].results = results
    return issues


class FormsUnusable(Exception):
    """The forms cannot be used (definition errors, or data their choices depend on)."""

    def __init__(self, message: str, issues: list[Issue] | None = None):
        self.issues = issues or []
        super().__init__(message)


def load_forms_for_use(data_dir: Path) -> dict[str, Form]:
    """Forms by id for the CLI: checked, with owners verified and data-backed choices filled.

    The dataset is loaded (without case records) only when the owners or choices need it;
    raises ``FormsUnusable`` when a definition or the data has errors.
    """
    from generator.validate import check

    try:
        result = check(data_dir, extra_checks=(), cases=False)
    except Exception as exc:  # a missing or broken data contract: say why
        raise FormsUnusable(f"无法读取数据文件夹 {data_dir}：{exc}") from exc
    forms, issues = load_forms(data_dir, result.dataset)
    errors = [i for i in issues if i.severity is Severity.ERROR]
    if errors:
        raise FormsUnusable(f"表单定义有 {len(errors)} 个错误", errors)
    if result.dataset is None and any(f.options_from for form in forms for f in form.fields):
        data_errors = [i for i in result.issues if i.severity is Severity.ERROR]
        raise FormsUnusable(
            "数据未通过校验，无法读取选项来自数据（options_from）的表单", data_errors
        )
    return {form.id: form for form in forms}
