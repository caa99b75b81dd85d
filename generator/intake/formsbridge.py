"""The narrow interface between the intake service and the form definitions.

Everything the service knows about forms goes through here: which forms exist (loaded from
``data/forms/`` by ``generator.forms.definitions``), the rules and Chinese messages a submission
must pass (``generator.forms.rules`` — the one source the browser also runs), and the responses
CSV columns ``gongzhi forms ingest`` reads. The service keeps no copy of any rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from generator.forms import rules
from generator.forms.model import HONEYPOT, NEXT, FieldKind, Form, FormStatus
from generator.issues import Issue, Severity

CHINA = ZoneInfo("Asia/Shanghai")  # form dates are dates in China (UTC+8, no daylight saving)

IDEMPOTENCY_KEY = "_sid"
"""Optional client-generated submission id: a retried POST with the same id is stored once."""

RESERVED = frozenset({HONEYPOT, NEXT, IDEMPOTENCY_KEY})

Values = Mapping[str, str | list[str]]


def china_today(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(CHINA).date()


class FormsUnavailable(Exception):
    """The form definitions could not be loaded; carries the issues found."""

    def __init__(self, issues: list[Issue], message: str | None = None):
        self.issues = issues
        super().__init__(message or f"表单定义有 {len(issues)} 个错误")


def load_forms(data_dir: Path) -> dict[str, Form]:
    """All forms defined under ``data_dir/forms``; raises ``FormsUnavailable`` on errors.

    A form whose choices come from the data (``options_from: projects``) needs the linked
    dataset; it is loaded only then (without the case records, which the service never reads).
    """
    from generator.forms import definitions

    forms, issues = definitions.load_forms(data_dir)
    _raise_on_errors(issues)
    if any(item.options_from is not None for form in forms for item in form.fields):
        from generator.validate import check

        try:
            result = check(data_dir, extra_checks=(), cases=False)
        except Exception as exc:  # ContractError and the like: say why, do not start half-blind
            raise FormsUnavailable(
                [], f"有表单的选项来自数据（options_from），但无法读取 {data_dir}：{exc}"
            ) from exc
        if result.dataset is None:
            _raise_on_errors(result.issues)
            raise FormsUnavailable([], "有表单的选项来自数据（options_from），但数据未通过校验")
        forms, issues = definitions.load_forms(data_dir, result.dataset)
        _raise_on_errors(issues)
    return {form.id: form for form in forms}


def _raise_on_errors(issues: list[Issue]) -> None:
    errors = [issue for issue in issues if issue.severity is Severity.ERROR]
    if errors:
        raise FormsUnavailable(errors)


def status(form: Form, now: dt.datetime | None = None) -> FormStatus:
    return form.status(china_today(now))


def unknown_fields(form: Form, values: Values) -> list[str]:
    names = {field.name for field in form.fields}
    return [key for key in values if key not in names and key not in RESERVED]


def check(form: Form, values: Values) -> dict[str, str]:
    """Field name -> Chinese message, exactly as the browser would say it."""
    return rules.validate_submission(form, values)


def is_spam(values: Values) -> bool:
    return rules.is_spam(values)


def normalised(form: Form, values: Values) -> dict[str, str | list[str]]:
    """The answers as stored: normalised by the shared rules, only the form's own fields."""
    return {field.name: rules.normalize(field, values.get(field.name)) for field in form.fields}


def export_header(form: Form) -> list[str]:
    return rules.response_columns(form)


def export_row(
    form: Form, answers: Values, response_id: str, received_at: dt.datetime
) -> list[str]:
    """One CSV row; the time is written in China time (+08:00), as staff read it."""
    return rules.response_row(form, answers, response_id, received_at.astimezone(CHINA))


def numeric_fields(form: Form) -> set[str]:
    """Columns whose validated values are plain numbers (never neutralised as formulas)."""
    return {field.name for field in form.fields if field.kind is FieldKind.NUMBER}


def thanks_url(site_url: str, form: Form) -> str:
    return f"{site_url.rstrip('/')}/forms/{form.id}/thanks/"


def form_url(site_url: str, form: Form) -> str:
    return f"{site_url.rstrip('/')}/forms/{form.id}/"
