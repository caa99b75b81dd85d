"""The submission rules: one table of cases, checked in Python here and — the same table — in
the browser's forms.js (tests/test_forms_site.py), so both always say the same thing."""

from __future__ import annotations

import datetime as dt

import pytest

from generator.forms.model import (
    Delivery,
    Field,
    FieldKind,
    Form,
    FormKind,
    Option,
    Owner,
    OwnerKind,
    Privacy,
)
from generator.forms.rules import (
    MESSAGES,
    browser_rules,
    clean_submission,
    is_spam,
    response_columns,
    response_row,
    validate_submission,
)


def make_form(*fields: Field) -> Form:
    return Form(
        id="t", title="测试", kind=FormKind.SURVEY, purpose="测试", owner=Owner(OwnerKind.COMMUNITY, "c"),
        audience="居民", opens=dt.date(2026, 1, 1), closes=dt.date(2026, 12, 31), fields=list(fields),
        privacy=Privacy("测试", "居委会", 30, "电话"), delivery=Delivery("http://127.0.0.1:8787"),
    )  # fmt: skip


OPTIONS = [Option("停车", "停车"), Option("环境", "环境"), Option("养老", "养老")]
FIELDS = {
    "text": Field("text", "议题", FieldKind.SHORT_TEXT, required=True, min_length=2, max_length=5),
    "room": Field("room", "楼幢", FieldKind.SHORT_TEXT, pattern=r"\d{1,3}(-\d{1,2})?", pattern_description="楼幢号，如 3-2"),
    "plain": Field("plain", "代码", FieldKind.SHORT_TEXT, pattern=r"[A-Z]{2}"),
    "long": Field("long", "意见", FieldKind.LONG_TEXT),
    "one": Field("one", "方面", FieldKind.SINGLE_CHOICE, required=True, options=OPTIONS),
    "many": Field("many", "多选", FieldKind.MULTIPLE_CHOICE, required=True, options=OPTIONS, min_choices=1, max_choices=2),
    "age": Field("age", "年龄", FieldKind.NUMBER, integer=True, min=16, max=85),
    "money": Field("money", "金额", FieldKind.NUMBER, min=1000),
    "day": Field("day", "日期", FieldKind.DATE, min_date=dt.date(2026, 11, 10), max_date=dt.date(2027, 2, 28)),
    "score": Field("score", "评分", FieldKind.RATING, required=True),
    "phone": Field("phone", "电话", FieldKind.PHONE, personal=True),
    "ok": Field("ok", "同意", FieldKind.CONSENT, required=True),
}  # fmt: skip

# (field, submitted value, expected message or None). Shared with the browser test.
CASES: list[tuple[str, str | list[str], str | None]] = [
    ("text", "", MESSAGES["required"]),
    ("text", "   ", MESSAGES["required"]),
    ("text", "停", "至少填写 2 个字（现在 1 个字）。"),
    ("text", "停车难", None),
    ("text", "小区停车太难了", "最多填写 5 个字（现在 7 个字）。"),
    ("text", "😀😀", None),  # characters, not UTF-16 units
    ("room", "", None),
    ("room", "3-2", None),
    ("room", "３－２", None),  # full-width, typed with a Chinese input method
    ("room", "3号楼", "格式不对：楼幢号，如 3-2。"),
    ("plain", "abc", MESSAGES["pattern_plain"]),
    ("long", "很" * 2000, None),
    ("long", "很" * 2001, "最多填写 2000 个字（现在 2001 个字）。"),
    ("one", "", MESSAGES["required_choice"]),
    ("one", "环境", None),
    ("one", "别的", MESSAGES["choice"]),
    ("many", [], MESSAGES["required_multiple"]),
    ("many", ["停车"], None),
    ("many", ["停车", "停车"], None),
    ("many", ["停车", "环境", "养老"], "最多选择 2 项。"),
    ("many", ["停车", "广场舞"], MESSAGES["choice"]),
    ("age", "", None),
    ("age", "35", None),
    ("age", "３５", None),
    ("age", "15", "请填写 16 到 85 之间的数。"),
    ("age", "86", "请填写 16 到 85 之间的数。"),
    ("age", "35.5", MESSAGES["integer"]),
    ("age", "三十五", MESSAGES["number"]),
    ("money", "999.5", "不能小于 1000。"),
    ("money", "1500.50", None),
    ("day", "2026-12-01", None),
    ("day", "2026-02-30", MESSAGES["date"]),
    ("day", "2026/12/01", MESSAGES["date"]),
    ("day", "2026-11-01", "日期须在 2026-11-10 到 2027-02-28 之间。"),
    ("score", "", MESSAGES["required_choice"]),
    ("score", "5", None),
    ("score", "6", MESSAGES["rating"]),
    ("score", "0", MESSAGES["rating"]),
    ("phone", "13800001234", None),
    ("phone", "138 0000 1234", None),
    ("phone", "0571-86001234", None),
    ("phone", "12345", MESSAGES["phone"]),
    ("ok", "", MESSAGES["required_consent"]),
    ("ok", "同意", None),
    ("ok", "on", None),
    ("ok", "不同意", MESSAGES["consent"]),
]


@pytest.mark.parametrize("name,value,expected", CASES)
def test_rule(name: str, value: str | list[str], expected: str | None) -> None:
    form = make_form(FIELDS[name])
    errors = validate_submission(form, {name: value})
    assert errors.get(name) == expected


def test_all_errors_at_once_and_unknown_keys_ignored() -> None:
    form = make_form(FIELDS["text"], FIELDS["one"], FIELDS["ok"])
    errors = validate_submission(form, {"_hp": "", "_next": "x", "stray": "y"})
    assert set(errors) == {"text", "one", "ok"}


def test_honeypot() -> None:
    assert is_spam({"_hp": "http://spam"})
    assert is_spam({"_hp": ["", "x"]})
    assert not is_spam({"_hp": "  "})
    assert not is_spam({})


def test_response_columns_and_row() -> None:
    form = make_form(FIELDS["many"], FIELDS["phone"], FIELDS["ok"], FIELDS["age"])
    assert response_columns(form) == ["response_id", "submitted_at", "many", "phone", "ok", "age"]
    at = dt.datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    row = response_row(
        form,
        {"many": ["停车", "环境"], "phone": "138 0000 1234", "ok": "on", "age": "３５"},
        "R1",
        at,
    )
    assert row == ["R1", "2026-11-28T09:30:15+08:00", "停车|环境", "13800001234", "同意", "35"]
    assert clean_submission(form, {}) == {"many": "", "phone": "", "ok": "", "age": ""}


def test_browser_rules_carry_everything_the_script_needs() -> None:
    form = make_form(*FIELDS.values())
    rules = browser_rules(form)
    assert rules["messages"] == MESSAGES
    assert rules["honeypot"] == "_hp"
    by_name = {f["name"]: f for f in rules["fields"]}
    assert by_name["long"]["maxLength"] == 2000  # the default limit travels too
    assert by_name["day"]["minDate"] == "2026-11-10"
    assert by_name["many"]["options"] == ["停车", "环境", "养老"]
    assert by_name["score"]["kind"] == "rating"
