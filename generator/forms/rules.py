"""The checks a submitted answer must pass, and their Chinese messages — the one source.

The intake service calls ``validate_submission`` on every POST; the form page embeds
``browser_rules(form)`` as JSON and ``forms.js`` runs the same algorithm with the same message
templates, so a resident sees in the browser exactly what the server would answer.
``response_columns`` and ``response_row`` define the CSV the intake service exports and
``gongzhi forms ingest`` reads.

Normalisation (both sides): values are trimmed; numbers, dates, ratings and phone numbers are
NFKC-normalised first, so full-width digits typed with a Chinese input method are accepted.
Lengths count characters (code points), as people count them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from generator.forms.model import (
    HONEYPOT,
    MULTI_SEPARATOR,
    NEXT,
    RATING_MAX,
    RATING_MIN,
    Field,
    FieldKind,
    Form,
)

# Patterns written once, valid both as Python ``re`` (with re.ASCII) and JavaScript RegExp ("u").
NUMBER_PATTERN = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
INTEGER_PATTERN = r"[+-]?\d+"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
PHONE_PATTERN = r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}"
PHONE_STRIP = r"[\s()（）]"  # removed before checking a phone number (spaces, brackets)
CONSENT_VALUES = ("on", "yes", "true", "1", "同意")

DEFAULT_MAX_LENGTH = {FieldKind.SHORT_TEXT: 100, FieldKind.LONG_TEXT: 2000}
"""Applied when the definition sets no ``max_length``: bounds what a stranger can send."""

# Message templates. Placeholders: {min} {max} {n} {description}. Used by Python and forms.js.
MESSAGES: dict[str, str] = {
    "required": "请填写此项。",
    "required_choice": "请选择一项。",
    "required_multiple": "请至少选择一项。",
    "required_consent": "请阅读说明并勾选同意后再提交。",
    "too_short": "至少填写 {min} 个字（现在 {n} 个字）。",
    "too_long": "最多填写 {max} 个字（现在 {n} 个字）。",
    "pattern": "格式不对：{description}。",
    "pattern_plain": "格式不对，请按说明填写。",
    "number": "请填写数字，如 12 或 3.5。",
    "integer": "请填写整数。",
    "number_range": "请填写 {min} 到 {max} 之间的数。",
    "number_min": "不能小于 {min}。",
    "number_max": "不能大于 {max}。",
    "date": "请按“年-月-日”填写日期，如 2026-11-28。",
    "date_range": "日期须在 {min} 到 {max} 之间。",
    "date_min": "日期不能早于 {min}。",
    "date_max": "日期不能晚于 {max}。",
    "rating": "请选择 1 到 5 分。",
    "phone": "请填写 11 位手机号，或带区号的固定电话（如 0571-86001234）。",
    "choice": "请从给出的选项中选择。",
    "choices_min": "至少选择 {min} 项。",
    "choices_max": "最多选择 {max} 项。",
    "consent": "请勾选同意框。",
}

RESPONSE_ID, SUBMITTED_AT = "response_id", "submitted_at"
"""The two columns before the fields in every exported responses CSV."""

_NFKC_KINDS = (FieldKind.NUMBER, FieldKind.DATE, FieldKind.RATING, FieldKind.PHONE)


def _message(key: str, **values: Any) -> str:
    return MESSAGES[key].format(**{k: _fmt(v) for k, v in values.items()})


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an editor's pattern the way the browser reads it (whole value, ASCII classes)."""
    return re.compile(pattern, re.ASCII)


def max_length(field: Field) -> int | None:
    if field.max_length is not None:
        return field.max_length
    return DEFAULT_MAX_LENGTH.get(field.kind)


def normalize(field: Field, raw: str | Sequence[str] | None) -> str | list[str]:
    """The value as checked and stored: a list for multiple choice, a trimmed string otherwise."""
    if field.kind is FieldKind.MULTIPLE_CHOICE:
        if raw is None:
            items: list[str] = []
        elif isinstance(raw, str):
            items = [raw]
        else:
            items = list(raw)
        seen: list[str] = []
        for item in items:
            item = (item or "").strip()
            if item and item not in seen:
                seen.append(item)
        return seen
    if raw is None:
        return ""
    if not isinstance(raw, str):  # several values for a one-value field: the last wins
        raw = raw[-1] if raw else ""
    value = raw.strip()
    if field.kind in _NFKC_KINDS or (field.is_free_text and field.pattern):
        value = unicodedata.normalize("NFKC", value).strip()
    if field.kind is FieldKind.PHONE:
        value = re.sub(PHONE_STRIP, "", value)
    return value


def check_field(field: Field, value: str | list[str]) -> str | None:
    """The Chinese message for one normalised value, or None when it is acceptable."""
    kind = field.kind
    if kind is FieldKind.MULTIPLE_CHOICE:
        assert isinstance(value, list)
        if not value:
            return _message("required_multiple") if field.required else None
        allowed = {option.value for option in field.options}
        if any(item not in allowed for item in value):
            return _message("choice")
        if field.min_choices is not None and len(value) < field.min_choices:
            return _message("choices_min", min=field.min_choices)
        if field.max_choices is not None and len(value) > field.max_choices:
            return _message("choices_max", max=field.max_choices)
        return None
    assert isinstance(value, str)
    if value == "":
        if not field.required:
            return None
        if kind is FieldKind.CONSENT:
            return _message("required_consent")
        if kind in (FieldKind.SINGLE_CHOICE, FieldKind.RATING):
            return _message("required_choice")
        return _message("required")
    if kind in (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT):
        n = len(value)
        if field.min_length is not None and n < field.min_length:
            return _message("too_short", min=field.min_length, n=n)
        limit = max_length(field)
        if limit is not None and n > limit:
            return _message("too_long", max=limit, n=n)
        if field.pattern and not compile_pattern(field.pattern).fullmatch(value):
            if field.pattern_description:
                return _message("pattern", description=field.pattern_description)
            return _message("pattern_plain")
        return None
    if kind is FieldKind.NUMBER:
        if not re.fullmatch(NUMBER_PATTERN, value, re.ASCII):
            return _message("number")
        if field.integer and not re.fullmatch(INTEGER_PATTERN, value, re.ASCII):
            return _message("integer")
        number = float(value)
        return _range_message(field.min, field.max, number, "number")
    if kind is FieldKind.DATE:
        if not re.fullmatch(DATE_PATTERN, value, re.ASCII):
            return _message("date")
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return _message("date")
        return _range_message(field.min_date, field.max_date, day, "date")
    if kind is FieldKind.RATING:
        if not re.fullmatch(r"\d", value, re.ASCII) or not RATING_MIN <= int(value) <= RATING_MAX:
            return _message("rating")
        return None
    if kind is FieldKind.PHONE:
        if not re.fullmatch(PHONE_PATTERN, value, re.ASCII):
            return _message("phone")
        return None
    if kind is FieldKind.SINGLE_CHOICE:
        if value not in {option.value for option in field.options}:
            return _message("choice")
        return None
    if kind is FieldKind.CONSENT:
        if value.lower() not in CONSENT_VALUES:
            return _message("consent")
        return None
    raise ValueError(f"unknown field kind: {kind}")  # pragma: no cover - enum is closed


def _range_message(low: Any, high: Any, value: Any, prefix: str) -> str | None:
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return _message(f"{prefix}_range", min=low, max=high)
        if low is not None:
            return _message(f"{prefix}_min", min=low)
        return _message(f"{prefix}_max", max=high)
    return None


def validate_submission(form: Form, values: Mapping[str, str | list[str]]) -> dict[str, str]:
    """Check one submission; returns field name -> Chinese message (empty when acceptable).

    Keys not defined by the form (``_hp``, ``_next``, stray keys) are ignored here; the caller
    rejects a filled honeypot with ``is_spam``.
    """
    errors: dict[str, str] = {}
    for field in form.fields:
        message = check_field(field, normalize(field, values.get(field.name)))
        if message:
            errors[field.name] = message
    return errors


def is_spam(values: Mapping[str, str | list[str]]) -> bool:
    """True when the honeypot field, invisible to people, was filled in."""
    value = values.get(HONEYPOT)
    if isinstance(value, list):
        return any(v.strip() for v in value)
    return bool(value and value.strip())


def clean_submission(form: Form, values: Mapping[str, str | list[str]]) -> dict[str, str]:
    """The normalised answers as CSV cells (multiple choices joined with ``|``), field order."""
    cells: dict[str, str] = {}
    for field in form.fields:
        value = normalize(field, values.get(field.name))
        if isinstance(value, list):
            cells[field.name] = MULTI_SEPARATOR.join(value)
        elif field.kind is FieldKind.CONSENT and value:
            cells[field.name] = "同意" if value.lower() in CONSENT_VALUES else value
        else:
            cells[field.name] = value
    return cells


def response_columns(form: Form) -> list[str]:
    """Header of the responses CSV that ``gongzhi intake export`` writes and ingest reads."""
    return [RESPONSE_ID, SUBMITTED_AT, *(field.name for field in form.fields)]


def response_row(
    form: Form,
    values: Mapping[str, str | list[str]],
    response_id: str,
    submitted_at: dt.datetime,
) -> list[str]:
    """One CSV row in ``response_columns`` order. ``submitted_at`` is written as ISO 8601."""
    cells = clean_submission(form, values)
    stamp = submitted_at.replace(microsecond=0).isoformat()
    return [response_id, stamp, *(cells[field.name] for field in form.fields)]


def browser_rules(form: Form) -> dict[str, Any]:
    """What forms.js needs to run the same checks: embedded as JSON in the form page."""
    fields = []
    for field in form.fields:
        fields.append(
            {
                "name": field.name,
                "kind": field.kind.name.lower(),
                "required": field.required,
                "minLength": field.min_length,
                "maxLength": max_length(field),
                "pattern": field.pattern,
                "patternDescription": field.pattern_description,
                "min": field.min,
                "max": field.max,
                "integer": field.integer,
                "minDate": field.min_date.isoformat() if field.min_date else None,
                "maxDate": field.max_date.isoformat() if field.max_date else None,
                "minChoices": field.min_choices,
                "maxChoices": field.max_choices,
                "options": [option.value for option in field.options],
                "prefill": field.prefill,
            }
        )
    return {
        "form": form.id,
        "honeypot": HONEYPOT,
        "next": NEXT,
        "messages": MESSAGES,
        "patterns": {
            "number": NUMBER_PATTERN,
            "integer": INTEGER_PATTERN,
            "date": DATE_PATTERN,
            "phone": PHONE_PATTERN,
            "phoneStrip": PHONE_STRIP,
        },
        "consentValues": list(CONSENT_VALUES),
        "rating": [RATING_MIN, RATING_MAX],
        "fields": fields,
    }
