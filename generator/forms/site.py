"""The forms' part of the site: what each form page, paper version and embed shows.

``derive(ctx)`` builds ``FormsSite`` once (put in ``ctx.derived["forms"]`` before the portal's
pages are collected, so council, project, award and community pages can embed their forms);
``pages(ctx)`` yields the form pages, paper versions, thank-you pages, the index, and the
downloadable assets (QR code, response schemas, a CSV template for typing in paper forms).
Everything a template shows is computed here; templates only format.

URLs follow the portal's scheme with directory URLs: the form ``x`` lives at ``forms/x/``,
its paper version at ``forms/x/paper/``, its thank-you page at ``forms/x/thanks/`` — the
intake service redirects there after a plain POST.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import segno
from markupsafe import Markup

from generator.forms import definitions
from generator.forms.model import (
    HONEYPOT,
    NEXT,
    RATING_MAX,
    RATING_MIN,
    Field,
    FieldKind,
    FieldResult,
    Form,
    FormStatus,
    OwnerKind,
    ResultGroup,
)
from generator.forms.rules import browser_rules, max_length, response_columns
from generator.forms.schema import json_schema, table_schema
from generator.pages import Asset, Page, RenderContext

INDEX_PATH = "forms/index.md"
SELECT_ABOVE = 8  # a single choice with more options than this becomes a drop-down list
RATING_WORDS = {1: "很差", 2: "较差", 3: "一般", 4: "较好", 5: "很好"}
OWNER_FOLDERS = {
    OwnerKind.COMMUNITY: "communities",
    OwnerKind.COUNCIL: "councils",
    OwnerKind.PROJECT: "projects",
    OwnerKind.AWARD: "awards",
}
AUTOCOMPLETE = {"name": "name", "phone": "tel", "contact_name": "name", "contact_phone": "tel"}


def form_dir(form_id: str) -> str:
    return f"forms/{form_id}"


def page_path(form_id: str) -> str:
    return f"{form_dir(form_id)}/index.md"


def paper_path(form_id: str) -> str:
    return f"{form_dir(form_id)}/paper.md"


def thanks_path(form_id: str) -> str:
    return f"{form_dir(form_id)}/thanks.md"


def public_url(site_url: str, form_id: str) -> str:
    """The address people type or scan: what the QR code holds."""
    return f"{site_url.rstrip('/')}/forms/{form_id}/"


def qr_svg(url: str, title: str) -> str:
    """An inline SVG QR code (medium error correction, quiet zone of 4 modules)."""
    code = segno.make(url, error="m", micro=False)
    svg = code.svg_inline(scale=4, border=4, dark="#000", light="#fff", title=title)
    return svg.replace("<svg ", '<svg role="img" aria-label="' + _attr(title) + '" ', 1)


def qr_file(url: str, title: str) -> bytes:
    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=8, border=4, title=title, xmldecl=True)
    return buffer.getvalue()


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def script_json(data: Any) -> Markup:
    """JSON that is safe inside <script type="application/json"> and any Markdown."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


# --- what templates read ---------------------------------------------------------------------


@dataclass
class ChoiceView:
    value: str
    label: str
    id: str  # the control's HTML id


@dataclass
class FieldView:
    """One field as the page draws it: control kind, HTML ids, attributes, choices."""

    field: Field
    id: str  # f-<name>
    control: str  # text, textarea, radio, checkbox, select, number, date, tel, consent
    choices: list[ChoiceView]
    help_id: str | None
    error_id: str
    described_by: str
    # Extra attributes for the input/textarea (values are escaped). No HTML ``pattern``: the
    # browser's own check would refuse full-width digits that the shared rules accept.
    attrs: dict[str, str]
    paper_lines: int  # writing lines on the paper version
    constraint_note: str | None  # e.g. "4–40 字" "16–85" "最多选 3 项", shown under the label

    @property
    def grouped(self) -> bool:
        return self.control in ("radio", "checkbox")


@dataclass
class CountView:
    label: str
    count: int
    share: str  # "42.9%"
    bar: int  # 0–100, width of the bar


@dataclass
class FieldResultView:
    label: str
    kind: str
    n: int
    suppressed: bool
    counts: list[CountView]
    mean: str | None  # "4.2 分" / "35.5"
    multiple: bool
    summary: str  # one line for embeds: "满意 58.1%、基本满意 35.5%、不满意 6.5%" / "平均 3.9 分"


@dataclass
class GroupView:
    value: str | None
    label: str
    n: int
    suppressed: bool
    fields: list[FieldResultView]


@dataclass
class FormView:
    form: Form
    status: FormStatus
    path: str
    paper: str
    thanks: str
    url: str  # public absolute URL
    thanks_url: str
    action: str | None  # <endpoint>/f/<id>, or None when the form is only external
    external_url: str | None
    owner_name: str
    owner_path: str | None
    hand_in: str
    fields: list[FieldView]
    rules_json: Markup
    qr: Markup
    overall: GroupView | None
    groups: list[GroupView]
    days_left: int | None  # while open: days until the close date (0 = closes today)
    personal_fields: list[str]
    assets: dict[str, str]  # download label -> path in the docs folder
    privacy: list[tuple[str, str]]  # the PIPL notice as (heading, text) rows
    honeypot: str = HONEYPOT
    next_name: str = NEXT

    @property
    def is_open(self) -> bool:
        return self.status is FormStatus.OPEN

    @property
    def is_closed(self) -> bool:
        return self.status is FormStatus.CLOSED

    @property
    def has_results(self) -> bool:
        return self.overall is not None


@dataclass
class Embed:
    """A form offered on another page, with the query string that pre-fills it."""

    view: FormView
    target: str  # docs path with query, for ``link()``
    group: GroupView | None = None  # this page's own published results (e.g. one project)


@dataclass
class FormsSite:
    views: list[FormView] = field(default_factory=list)
    index_path: str = INDEX_PATH
    _embeds: dict[str, list[Embed]] = field(default_factory=dict)

    @property
    def open(self) -> list[FormView]:
        """Open forms, the latest close date first."""
        items = [v for v in self.views if v.status is FormStatus.OPEN]
        return sorted(items, key=lambda v: (v.form.closes, v.form.id), reverse=True)

    @property
    def upcoming(self) -> list[FormView]:
        items = [v for v in self.views if v.status is FormStatus.UPCOMING]
        return sorted(items, key=lambda v: (v.form.opens, v.form.id))

    @property
    def closed(self) -> list[FormView]:
        """Closed forms, the most recently closed first."""
        items = [v for v in self.views if v.status is FormStatus.CLOSED]
        return sorted(items, key=lambda v: (v.form.closes, v.form.id), reverse=True)

    def get(self, form_id: str) -> FormView | None:
        return next((v for v in self.views if v.form.id == form_id), None)

    def embeds(self, page: str) -> list[Embed]:
        """The forms a portal page offers, by the page's docs path (``councils/x.md``)."""
        return self._embeds.get(page, [])


def _field_view(item: Field) -> FieldView:
    fid = f"f-{item.name}"
    help_id = f"{fid}-help" if item.help else None
    error_id = f"{fid}-error"
    kind = item.kind
    attrs: dict[str, str] = {}
    note = None
    lines = 1
    if kind is FieldKind.SHORT_TEXT:
        control = "text"
        limit = max_length(item)
        if limit is not None:
            attrs["maxlength"] = str(limit)
        if item.min_length:
            attrs["minlength"] = str(item.min_length)
        if item.name in AUTOCOMPLETE:
            attrs["autocomplete"] = AUTOCOMPLETE[item.name]
        note = _length_note(item.min_length, item.max_length)
        lines = 1 if (limit or 100) <= 40 else 2
    elif kind is FieldKind.LONG_TEXT:
        control = "textarea"
        limit = max_length(item)
        if limit is not None:
            attrs["maxlength"] = str(limit)
        if item.min_length:
            attrs["minlength"] = str(item.min_length)
        note = _length_note(item.min_length, item.max_length)
        lines = 6 if (limit or 0) >= 500 else 4
    elif kind is FieldKind.NUMBER:
        control = "number"
        attrs["inputmode"] = "numeric" if item.integer else "decimal"
        note = _range_note(item.min, item.max, "整数" if item.integer else None)
    elif kind is FieldKind.DATE:
        control = "date"
        if item.min_date:
            attrs["min"] = item.min_date.isoformat()
        if item.max_date:
            attrs["max"] = item.max_date.isoformat()
        note = "格式：年-月-日"
    elif kind is FieldKind.PHONE:
        control = "tel"
        attrs["inputmode"] = "tel"
        attrs["autocomplete"] = "tel"
        note = "11 位手机号，或带区号的固定电话"
    elif kind is FieldKind.CONSENT:
        control = "consent"
    elif kind is FieldKind.RATING:
        control = "radio"
        note = (
            f"{RATING_MIN} 分{RATING_WORDS[RATING_MIN]}，{RATING_MAX} 分{RATING_WORDS[RATING_MAX]}"
        )
    elif kind is FieldKind.SINGLE_CHOICE:
        control = "select" if len(item.options) > SELECT_ABOVE or item.options_from else "radio"
    else:
        control = "checkbox"
        if item.min_choices and item.max_choices:
            note = f"选 {item.min_choices}–{item.max_choices} 项"
        elif item.max_choices:
            note = f"最多选 {item.max_choices} 项"
        elif item.min_choices:
            note = f"至少选 {item.min_choices} 项"
    if kind is FieldKind.RATING:
        choices = [
            ChoiceView(str(k), f"{k} 分（{RATING_WORDS[k]}）", f"{fid}-{k}")
            for k in range(RATING_MIN, RATING_MAX + 1)
        ]
    else:
        choices = [
            ChoiceView(o.value, o.label, f"{fid}-{i + 1}") for i, o in enumerate(item.options)
        ]
    described = " ".join(x for x in (help_id, error_id) if x)
    return FieldView(item, fid, control, choices, help_id, error_id, described, attrs, lines, note)


def _length_note(low: int | None, high: int | None) -> str | None:
    if low and high:
        return f"{low}–{high} 字"
    if high:
        return f"最多 {high} 字"
    if low:
        return f"至少 {low} 字"
    return None


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _range_note(low: float | None, high: float | None, extra: str | None) -> str | None:
    parts = []
    if low is not None and high is not None:
        parts.append(f"{_num(low)}–{_num(high)}")
    elif low is not None:
        parts.append(f"不小于 {_num(low)}")
    elif high is not None:
        parts.append(f"不大于 {_num(high)}")
    if extra:
        parts.append(extra)
    return "，".join(parts) or None


def _field_result_view(result: FieldResult) -> FieldResultView:
    multiple = result.kind is FieldKind.MULTIPLE_CHOICE
    counts = []
    for c in result.counts:
        share = c.count / result.n if result.n else 0.0
        counts.append(CountView(c.label, c.count, f"{share * 100:.1f}%", round(share * 100)))
    mean = None
    if result.mean is not None:
        mean = f"{result.mean:.1f} 分" if result.kind is FieldKind.RATING else f"{result.mean:g}"
    if result.suppressed:
        summary = "回答不足 5 份，不公布"
    elif result.kind is FieldKind.RATING or result.kind is FieldKind.NUMBER:
        summary = f"平均 {mean}" if mean else "—"
    else:
        ranked = sorted(counts, key=lambda c: -c.count)[: 3 if multiple else len(counts)]
        summary = "、".join(f"{c.label} {c.share}" for c in ranked if c.count)
        if multiple and len(counts) > 3:
            summary += " 等"
    return FieldResultView(
        result.label,
        result.kind.value,
        result.n,
        result.suppressed,
        counts,
        mean,
        multiple,
        summary,
    )


def _group_view(group: ResultGroup) -> GroupView:
    return GroupView(
        group.value,
        group.label,
        group.n,
        group.suppressed,
        [_field_result_view(f) for f in group.fields],
    )


def _hand_in(form: Form, ctx: RenderContext) -> str:
    if form.hand_in:
        return form.hand_in
    community = definitions.owner_community(form, ctx.dataset)
    if community is not None:
        place = community.office_address or community.consultation_centre_address
        if place:
            hours = f"（{community.office_hours}）" if community.office_hours else ""
            return f"{community.name}居委会：{place}{hours}"
        return f"{community.name}居委会"
    if form.owner.kind is OwnerKind.COUNCIL:
        council = ctx.dataset.councils.get(form.owner.id)
        if council is not None and council.meeting_place:
            return f"{council.name}：{council.meeting_place}"
    if form.owner.kind is OwnerKind.AWARD:
        award = ctx.dataset.awards.get(form.owner.id)
        if award is not None:
            return award.issuer
    return definitions.owner_name(form, ctx.dataset)


def form_view(form: Form, ctx: RenderContext) -> FormView:
    status = form.status(ctx.today)
    url = public_url(ctx.site_url, form.id)
    thanks_url = f"{url}thanks/"
    owner_folder = OWNER_FOLDERS[form.owner.kind]
    owner_known = form.owner.id in definitions.owner_table(ctx.dataset, form.owner.kind)
    results = form.results
    base = form_dir(form.id)
    assets = {
        "二维码（SVG）": f"{base}/qr.svg",
        "回复数据结构（Table Schema）": f"{base}/responses.table-schema.json",
        "回复数据结构（JSON Schema）": f"{base}/responses.schema.json",
        "纸质表录入模板（CSV）": f"{base}/responses-template.csv",
    }
    days_left = (form.closes - ctx.today).days if status is FormStatus.OPEN else None
    return FormView(
        form=form,
        status=status,
        path=page_path(form.id),
        paper=paper_path(form.id),
        thanks=thanks_path(form.id),
        url=url,
        thanks_url=thanks_url,
        action=form.delivery.action(form.id),
        external_url=form.delivery.external.url if form.delivery.external else None,
        owner_name=definitions.owner_name(form, ctx.dataset),
        owner_path=f"{owner_folder}/{form.owner.id}.md" if owner_known else None,
        hand_in=_hand_in(form, ctx),
        fields=[_field_view(f) for f in form.fields],
        rules_json=script_json(
            {
                **browser_rules(form),
                "external": _external_json(form),
                "thanks": thanks_url,
                "opens": form.opens.isoformat(),
                "closes": form.closes.isoformat(),
            }
        ),
        qr=Markup(qr_svg(url, f"{form.title}：扫码填写")),
        overall=_group_view(results.overall) if results else None,
        groups=[_group_view(g) for g in results.groups] if results else [],
        days_left=days_left,
        personal_fields=[f.label for f in form.fields if f.personal],
        assets=assets,
        privacy=privacy_rows(form, definitions.owner_name(form, ctx.dataset)),
    )


def privacy_rows(form: Form, owner_name: str) -> list[tuple[str, str]]:
    """The notice PIPL art. 17 asks for: who handles what, why, who sees it, how long, contact."""
    personal = [f.label for f in form.fields if f.personal]
    privacy = form.privacy
    return [
        ("个人信息处理者", privacy.handler or owner_name),
        ("处理目的", privacy.purpose),
        ("收集的个人信息", "、".join(personal) if personal else "不收集姓名、电话等个人信息"),
        ("谁能看到", privacy.seen_by),
        ("保存期限", f"{privacy.retention_days} 天，到期删除"),
        ("查询、更正、删除", privacy.contact),
    ]


def _external_json(form: Form) -> dict[str, Any] | None:
    external = form.delivery.external
    if external is None:
        return None
    return {"url": external.url, "prefill": external.prefill}


def derive(ctx: RenderContext) -> FormsSite:
    """All forms as the site shows them, and what each portal page embeds.

    Forms with errors are left out here (the validate stage reports them and stops the build).
    """
    forms, _issues = definitions.load_forms(ctx.dataset.root, ctx.dataset)
    site = FormsSite(views=[form_view(form, ctx) for form in forms])
    for view in site.views:
        form = view.form
        owner_page = view.owner_path
        if owner_page:
            site._embeds.setdefault(owner_page, []).append(Embed(view, view.path))
        if form.owner.kind is OwnerKind.COUNCIL:  # a council's forms also show on its community
            council = ctx.dataset.councils.get(form.owner.id)
            if council is not None and council.community:
                site._embeds.setdefault(f"communities/{council.community}.md", []).append(
                    Embed(view, view.path)
                )
        for item in form.fields:  # forms about projects: each project page, pre-filled
            if item.options_from is None or not item.prefill:
                continue
            for option in item.options:
                target = f"{view.path}?{urllib.parse.urlencode({item.prefill: option.value})}"
                group = None
                if form.results_by == item.name:
                    group = next((g for g in view.groups if g.value == option.value), None)
                site._embeds.setdefault(f"projects/{option.value}.md", []).append(
                    Embed(view, target, group)
                )
    for embeds in site._embeds.values():
        order = {FormStatus.OPEN: 0, FormStatus.UPCOMING: 1, FormStatus.CLOSED: 2}
        embeds.sort(key=lambda e: (order[e.view.status], -e.view.form.closes.toordinal()))
    return site


# --- the provider ----------------------------------------------------------------------------


def forms_site(ctx: RenderContext) -> FormsSite:
    """``ctx.derived["forms"]``, computed and stored there if the build did not yet."""
    site = ctx.derived.get("forms")
    if not isinstance(site, FormsSite):
        site = derive(ctx)
        ctx.derived["forms"] = site
    return site


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    site = forms_site(ctx)
    yield Page(
        INDEX_PATH,
        "forms.md",
        {"title": "参与表单", "site": site},
    )
    for view in site.views:
        common = {"view": view, "form": view.form, "title": view.form.title}
        yield Page(view.path, "form.md", common)
        yield Page(view.paper, "form_paper.md", {**common, "title": f"{view.form.title}（纸质版）"})
        yield Page(view.thanks, "form_thanks.md", {**common, "title": "提交成功"})
        title = f"{view.form.title}：扫码填写"
        yield Asset(view.assets["二维码（SVG）"], qr_file(view.url, title))
        yield Asset(
            view.assets["回复数据结构（Table Schema）"], _json_bytes(table_schema(view.form))
        )
        yield Asset(view.assets["回复数据结构（JSON Schema）"], _json_bytes(json_schema(view.form)))
        yield Asset(view.assets["纸质表录入模板（CSV）"], _csv_template(view.form))


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _csv_template(form: Form) -> bytes:
    """Header only, UTF-8 with BOM so Excel and WPS show the Chinese; staff type paper forms in."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(response_columns(form))
    return buffer.getvalue().encode("utf-8-sig")
