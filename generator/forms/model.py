"""Typed records of a participation form (参与表单), as editors define it in ``data/forms/*.yaml``.

One ``Form`` drives everything a resident meets: the web page and its browser checks, the
paper version with its QR code, the intake service's server-side checks, the response schemas
and the published aggregates. Vocabularies are ``Label`` enums whose values are the Chinese
words editors type (English aliases are accepted too, see ``definitions.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from generator.model import Label, Source


class FieldKind(Label):
    SHORT_TEXT = "单行文本"
    LONG_TEXT = "多行文本"
    SINGLE_CHOICE = "单选"
    MULTIPLE_CHOICE = "多选"
    NUMBER = "数字"
    DATE = "日期"
    RATING = "评分"  # an integer from 1 to 5
    PHONE = "电话"  # mainland mobile (11 digits) or landline with area code
    CONSENT = "同意"  # a single check box: "I agree to ..."


class FormKind(Label):
    CALL_FOR_TOPICS = "议题征集"
    FEEDBACK = "居民意见"
    EVALUATION = "民主评议"  # bandeng minzhu pingyi: the bench review of a project
    VOLUNTEER = "志愿者报名"
    NOMINATION = "评选提名"
    PROPOSAL = "公益创投申报"
    SURVEY = "问卷调查"


class OwnerKind(Label):
    COMMUNITY = "村社"
    COUNCIL = "议事会"
    PROJECT = "项目"
    AWARD = "评选"


class FormStatus(Label):
    UPCOMING = "未开始"
    OPEN = "征集中"
    CLOSED = "已截止"


class OptionsSource(StrEnum):
    """Where a choice field takes its options from, instead of a typed list."""

    PROJECTS = "projects"  # the projects within the owner's reach: value = project id


RATING_MIN, RATING_MAX = 1, 5
MULTI_SEPARATOR = "|"  # joins the choices of a multiple-choice answer in a CSV cell
HONEYPOT = "_hp"  # a field hidden from people and screen readers; bots fill it
NEXT = "_next"  # where the intake service redirects after a plain (no-JS) POST
SUPPRESS_BELOW = 5  # aggregates of fewer responses than this are never published


@dataclass(frozen=True)
class Option:
    value: str  # what is submitted and stored
    label: str  # what people read; equals value for typed options


@dataclass
class Field:
    name: str  # ASCII identifier, the CSV column and the form control name
    label: str
    kind: FieldKind
    required: bool = False
    help: str | None = None
    options: list[Option] = field(default_factory=list)
    options_from: OptionsSource | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # whole-value regular expression, same in Python and JS
    pattern_description: str | None = None  # in Chinese, e.g. "楼号-单元-室，如 3-2-501"
    min: float | None = None  # number
    max: float | None = None
    integer: bool = False  # number: whole numbers only
    min_date: dt.date | None = None  # date
    max_date: dt.date | None = None
    min_choices: int | None = None  # multiple choice
    max_choices: int | None = None
    personal: bool = False  # holds personal information (name, phone ...): never published
    prefill: str | None = None  # query-string parameter that pre-fills it, e.g. "project"
    line: int | None = None  # where it is defined, for error messages

    @property
    def is_choice(self) -> bool:
        return self.kind in (FieldKind.SINGLE_CHOICE, FieldKind.MULTIPLE_CHOICE)

    @property
    def is_free_text(self) -> bool:
        return self.kind in (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT)

    @property
    def publishable(self) -> bool:
        """Whether aggregates of this field may be published (never free text or personal)."""
        return not self.personal and self.kind in (
            FieldKind.SINGLE_CHOICE,
            FieldKind.MULTIPLE_CHOICE,
            FieldKind.RATING,
            FieldKind.NUMBER,
        )

    def option_label(self, value: str) -> str:
        for option in self.options:
            if option.value == value:
                return option.label
        return value


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    id: str


@dataclass(frozen=True)
class Privacy:
    """The notice the Personal Information Protection Law (个人信息保护法, art. 17) expects."""

    purpose: str  # 处理目的
    seen_by: str  # 谁能看到
    retention_days: int  # 保存期限（天）
    contact: str  # 联系方式（查询、更正、删除）
    handler: str | None = None  # 个人信息处理者 (defaults to the owner's name on the page)


@dataclass(frozen=True)
class ExternalForm:
    url: str
    label: str = "前往填写"
    prefill: dict[str, str] = field(default_factory=dict)  # query param -> our prefill name


@dataclass(frozen=True)
class Delivery:
    endpoint: str | None  # base URL of an intake service; POST goes to <endpoint>/f/<form_id>
    external: ExternalForm | None = None

    def action(self, form_id: str) -> str | None:
        if not self.endpoint:
            return None
        return f"{self.endpoint.rstrip('/')}/f/{form_id}"


@dataclass
class ChoiceCount:
    value: str
    label: str
    count: int


@dataclass
class FieldResult:
    """Published aggregate of one field. ``suppressed`` when fewer than 5 answered."""

    name: str
    label: str
    kind: FieldKind
    n: int
    suppressed: bool
    counts: list[ChoiceCount] = field(default_factory=list)
    mean: float | None = None


@dataclass
class ResultGroup:
    """Aggregates of one group of responses (all of them, or those about one project)."""

    value: str | None  # the grouping answer (e.g. a project id); None for all responses
    label: str
    n: int
    suppressed: bool  # fewer than SUPPRESS_BELOW responses: nothing but that fact is shown
    fields: list[FieldResult] = field(default_factory=list)


@dataclass
class FormResults:
    form: str
    n: int  # responses accepted
    generated_on: dt.date
    overall: ResultGroup
    group_field: str | None = None  # e.g. "project": results also shown per project
    groups: list[ResultGroup] = field(default_factory=list)

    def group(self, value: str) -> ResultGroup | None:
        for item in self.groups:
            if item.value == value:
                return item
        return None


@dataclass
class Form:
    id: str
    title: str
    kind: FormKind
    purpose: str
    owner: Owner
    audience: str
    opens: dt.date
    closes: dt.date
    fields: list[Field]
    privacy: Privacy
    delivery: Delivery
    summary: str | None = None
    hand_in: str | None = None  # where the paper version goes (defaults to the owner's office)
    results_by: str | None = None  # a choice field whose answers group the published results
    sample_data: bool = False
    origin: Source | None = None
    results: FormResults | None = None  # filled from data/forms/_results/<id>.json

    def status(self, today: dt.date) -> FormStatus:
        if today < self.opens:
            return FormStatus.UPCOMING
        if today > self.closes:
            return FormStatus.CLOSED
        return FormStatus.OPEN

    def get_field(self, name: str) -> Field | None:
        for item in self.fields:
            if item.name == name:
                return item
        return None

    @property
    def collects_personal_data(self) -> bool:
        return any(item.personal for item in self.fields)
