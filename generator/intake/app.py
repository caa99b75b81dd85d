"""The intake web application (Starlette).

Routes:

- ``POST /f/<form>``  a submission: JSON (``application/json``), URL-encoded or multipart form data.
  Scripts get JSON; a plain browser form post gets 303 See Other to the portal's thank-you page
  (POST-redirect-GET), or, when invalid, the form again with the Chinese errors beside the fields.
- ``OPTIONS /f/<form>`` CORS preflight, answered only for the portal's own origin.
- ``GET /f/<form>``   redirects to the form's page on the portal.
- ``GET /staff/forms/<form>/responses.csv`` the responses CSV, behind a staff bearer token; audited.
- ``GET /healthz``    200 when the database accepts writes and the forms are loaded, else 503.

Order of checks on a submission, cheapest first: form known (404) → origin (403) → rate (429)
→ open (410 closed, 403 not yet open) → declared size (413) → media type (415) → body read with
the limit enforced as it arrives (413) → parse (400) → honeypot (looks accepted, not stored)
→ unknown fields (400) → the shared rules (422) → stored and committed → answered (201 / 303).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
from jinja2 import Environment, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from generator.forms.model import HONEYPOT, NEXT, Form, FormStatus
from generator.intake import formsbridge
from generator.intake.export import ExportSnapshot
from generator.intake.security import (
    BodyTooLarge,
    Network,
    TokenBucket,
    bearer,
    client_address,
    loggable_path,
    origin_of,
    rate_key,
    safe_redirect,
    verify_token,
)
from generator.intake.storage import StorageError, Writer, connect, new_receipt, write_audit

log = logging.getLogger("gongzhi.intake")


def failure(exc: BaseException) -> str:
    """An exception for a log line: its type and where it was raised, never its message.

    Messages of parse and encoding errors quote the input (``invalid literal for int(): '139…'``),
    and the input is a resident's; the type and the line are enough to find the bug.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    cause = exc.__cause__ or exc.__context__
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    text = f"{type(exc).__name__}（{where}）"
    return text + (f"，起因 {failure(cause)}" if cause is not None and cause is not exc else "")
audit_log = logging.getLogger("gongzhi.intake.audit")

MAX_FIELDS = 200  # form fields in one submission at most (before the unknown-field check)
CLIENT_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class IntakeSettings:
    """Everything the application needs; built by the command line or by tests."""

    db: Path
    forms: dict[str, Form]
    site_url: str  # the portal, e.g. https://gongzhi.example.gov.cn/
    extra_origins: list[str] = field(default_factory=list)
    trusted_proxies: list[Network] = field(default_factory=list)
    max_body_bytes: int = 64 * 1024
    rate_per_minute: float = 30.0  # submissions per client address
    burst: int = 30  # a meeting hall on one Wi-Fi address may submit together
    staff_rate_per_minute: float = 6.0
    staff_burst: int = 10
    body_timeout: float = 20.0  # seconds for a whole request body to arrive (slow drips)

    @property
    def allowed_origins(self) -> set[str]:
        origins = {origin_of(self.site_url), *(origin_of(o) for o in self.extra_origins)}
        return {o for o in origins if o}

    def __post_init__(self) -> None:
        self.allowed = frozenset(self.allowed_origins)  # computed once, read on every request


# -- responses ----------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origins}; "
    "base-uri 'none'; frame-ancestors 'none'"
)

_templates = Environment(
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

PAGE = _templates.from_string(
    """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
max-width:40rem;margin:0 auto;padding:1rem;line-height:1.7;font-size:1.125rem;color:#1a1a1a}
h1{font-size:1.5rem}.summary{border:3px solid #b00020;padding:.5rem 1rem;margin:1rem 0}
.error{color:#b00020;font-weight:bold;display:block}fieldset{border:1px solid #888;margin:1rem 0;padding:.5rem 1rem}
label{display:block;font-weight:bold;margin-top:1rem}fieldset label{font-weight:normal;margin:.25rem 0}
input[type=text],input[type=tel],input[type=date],textarea{width:100%;box-sizing:border-box;font-size:1.125rem;padding:.4rem}
.help{color:#444;font-size:1rem}.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
button{font-size:1.125rem;padding:.5rem 1.5rem;margin-top:1rem}
:focus{outline:3px solid #1565c0;outline-offset:2px}
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}
{% if form %}
<div class="summary" role="alert" tabindex="-1" id="summary">
<p>有 {{ errors|length }} 处需要修改（您填写的内容尚未保存）：</p>
<ul>{% for name, message in errors.items() %}<li><a href="#f-{{ name }}">{{ labels.get(name, name) }}：{{ message }}</a></li>{% endfor %}</ul>
</div>
<form method="post" action="{{ action }}" accept-charset="utf-8" novalidate>
{% for f in form.fields %}{% set err = errors.get(f.name) %}{% set value = values.get(f.name) %}
{% if f.kind.name in ("SINGLE_CHOICE", "MULTIPLE_CHOICE", "RATING") %}
<fieldset id="f-{{ f.name }}"{% if err %} aria-describedby="e-{{ f.name }}"{% endif %}>
<legend>{{ f.label }}{% if f.required %}（必填）{% endif %}</legend>
{% if f.help %}<span class="help">{{ f.help }}</span>{% endif %}
{% if err %}<span class="error" id="e-{{ f.name }}">{{ err }}</span>{% endif %}
{% if f.kind.name == "RATING" %}{% for n in range(1, 6) %}
<label><input type="radio" name="{{ f.name }}" value="{{ n }}"{% if value == n|string %} checked{% endif %}> {{ n }} 分</label>
{% endfor %}{% else %}{% for o in f.options %}
<label><input type="{{ 'checkbox' if f.kind.name == 'MULTIPLE_CHOICE' else 'radio' }}" name="{{ f.name }}" value="{{ o.value }}"{% if (value is string and value == o.value) or (value is not string and value and o.value in value) %} checked{% endif %}> {{ o.label }}</label>
{% endfor %}{% endif %}
</fieldset>
{% elif f.kind.name == "CONSENT" %}
<label for="f-{{ f.name }}"><input type="checkbox" id="f-{{ f.name }}" name="{{ f.name }}" value="同意"{% if value %} checked{% endif %}{% if err %} aria-invalid="true" aria-describedby="e-{{ f.name }}"{% endif %}> {{ f.label }}{% if f.required %}（必填）{% endif %}</label>
{% if err %}<span class="error" id="e-{{ f.name }}">{{ err }}</span>{% endif %}
{% else %}
<label for="f-{{ f.name }}">{{ f.label }}{% if f.required %}（必填）{% endif %}</label>
{% if f.help %}<span class="help" id="h-{{ f.name }}">{{ f.help }}</span>{% endif %}
{% if err %}<span class="error" id="e-{{ f.name }}">{{ err }}</span>{% endif %}
{% if f.kind.name == "LONG_TEXT" %}<textarea id="f-{{ f.name }}" name="{{ f.name }}" rows="5"{% if err %} aria-invalid="true" aria-describedby="e-{{ f.name }}"{% endif %}>{{ value or "" }}</textarea>
{% else %}<input id="f-{{ f.name }}" name="{{ f.name }}" value="{{ value or '' }}" type="{{ {'PHONE': 'tel', 'DATE': 'date'}.get(f.kind.name, 'text') }}"{% if f.kind.name == 'NUMBER' %} inputmode="decimal"{% elif f.kind.name == 'PHONE' %} inputmode="tel" autocomplete="tel"{% endif %}{% if err %} aria-invalid="true" aria-describedby="e-{{ f.name }}"{% endif %}>{% endif %}
{% endif %}
{% endfor %}
<div class="hp" aria-hidden="true"><label>请勿填写此项<input type="text" name="{{ honeypot }}" tabindex="-1" autocomplete="off"></label></div>
{% for name, value in hidden.items() %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}<button type="submit">重新提交</button>
</form>
{% endif %}
{% if back %}<p><a href="{{ back }}">返回门户网站的表单页面</a></p>{% endif %}
</main>
</body>
</html>
"""
)


class Reply:
    """Builds JSON or HTML answers for one request, with CORS for the portal's origin."""

    def __init__(self, request: Request, settings: IntakeSettings):
        self.request = request
        self.settings = settings
        self.wants_json = wants_json(request)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(SECURITY_HEADERS)
        origin = self.request.headers.get("origin")
        if origin and origin_of(origin) in self.settings.allowed:
            headers["Access-Control-Allow-Origin"] = origin_of(origin) or origin
            headers["Vary"] = "Origin"
        if extra:
            headers.update(extra)
        return headers

    def rate_limited(self, wait: float, what: str, *, back: str | None = None) -> Response:
        """429 with Retry-After: ``wait`` seconds until the client's bucket has a token again."""
        seconds = max(1, round(wait + 0.5))
        return self.error(
            429,
            "rate-limited",
            f"{what}过于频繁，请 {seconds} 秒后再试。",
            extra_headers={"Retry-After": str(seconds)},
            back=back,
        )

    def error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: dict[str, str] | None = None,
        extra_headers: dict[str, str] | None = None,
        back: str | None = None,
    ) -> Response:
        headers = self.headers(extra_headers)
        if self.wants_json:
            body: dict[str, Any] = {"ok": False, "code": code, "message": message}
            if errors:
                body["errors"] = errors
            return JSONResponse(body, status_code=status, headers=headers)
        return self.page(status, _TITLES.get(status, "无法处理"), [message], headers, back=back)

    def page(
        self,
        status: int,
        title: str,
        paragraphs: list[str],
        headers: dict[str, str],
        **context: Any,
    ) -> Response:
        headers["Content-Security-Policy"] = PAGE_CSP.format(
            origins=" ".join(sorted(self.settings.allowed))
        )
        html = PAGE.render(title=title, paragraphs=paragraphs, honeypot=HONEYPOT, **context)
        return Response(html, status_code=status, headers=headers, media_type="text/html")


_TITLES = {
    400: "提交内容有误",
    408: "提交超时",
    401: "需要工作人员凭证",
    403: "无法提交",
    404: "未找到",
    405: "不支持的请求方式",
    410: "表单已截止",
    413: "提交内容过大",
    415: "不支持的提交格式",
    422: "请修改后重新提交",
    429: "提交过于频繁",
    503: "服务暂时不可用",
}


def wants_json(request: Request) -> bool:
    """Scripts (fetch, curl, JSON bodies) get JSON; a browser's plain form post gets HTML."""
    accept = request.headers.get("accept", "").lower()
    if "application/json" in accept:
        return True
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        return True
    mode = request.headers.get("sec-fetch-mode")
    if mode is not None and mode != "navigate":
        return True
    return "text/html" not in accept


# -- the application ----------------------------------------------------------------------------


class Intake:
    def __init__(self, settings: IntakeSettings):
        self.settings = settings
        self.writer = Writer(settings.db)
        self.submit_limit = TokenBucket(settings.rate_per_minute / 60, settings.burst)
        self.staff_limit = TokenBucket(settings.staff_rate_per_minute / 60, settings.staff_burst)
        self.allowed_origins = settings.allowed

    # lifecycle

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(self.writer.start)
        log.info(
            "表单回收服务已启动：%d 个表单，数据库 %s", len(self.settings.forms), self.settings.db
        )
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(self.writer.stop)
            log.info("表单回收服务已停止，未完成的写入均已提交")

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(
            peer, request.headers.get("x-forwarded-for"), self.settings.trusted_proxies
        )

    def origin_allowed(self, request: Request) -> bool:
        """Browsers send Origin with every POST; absent means a script, which is allowed."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        normal = origin_of(origin)
        if normal is not None and normal in self.allowed_origins:
            return True
        # The service's own pages (the form shown again with errors) post back to it.
        host = request.headers.get("host")
        return normal is not None and host is not None and urlsplit(normal).netloc == host.lower()

    # routes

    async def submit(self, request: Request) -> Response:
        reply = Reply(request, self.settings)
        form = self.settings.forms.get(request.path_params["form_id"])
        if form is None:
            return reply.error(404, "unknown-form", "没有这个表单，请检查链接是否完整。")
        back = formsbridge.form_url(self.settings.site_url, form)
        if not self.origin_allowed(request):
            return reply.error(
                403, "origin-not-allowed", "只接受从本门户网站提交的表单。", back=back
            )
        wait = self.submit_limit.take(rate_key(self.client(request)))
        if wait:
            return reply.rate_limited(wait, "提交", back=back)
        state = formsbridge.status(form)
        if state is FormStatus.CLOSED:
            return reply.error(
                410,
                "form-closed",
                f"“{form.title}”已于 {_date(form.closes)} 截止，不再接受提交。感谢您的关注。",
                back=back,
            )
        if state is FormStatus.UPCOMING:
            return reply.error(
                403,
                "form-not-open",
                f"“{form.title}”将于 {_date(form.opens)} 开始接受提交。",
                back=back,
            )
        try:
            values = await self.read_values(request)
        except _Rejected as rejected:
            return reply.error(
                rejected.status,
                rejected.code,
                rejected.message,
                back=back,
                extra_headers={"Connection": "close"} if rejected.status in (408, 413) else None,
            )
        next_url = safe_redirect(_single(values.get(NEXT)), self.allowed_origins)
        thanks = next_url or formsbridge.thanks_url(self.settings.site_url, form)
        if formsbridge.is_spam(values):
            # Looks accepted so that a bot learns nothing; nothing is stored.
            log.info("蜜罐字段被填写，提交已丢弃（表单 %s）", form.id)
            return self.accepted(reply, form, new_receipt(), thanks)
        unknown = formsbridge.unknown_fields(form, values)
        if unknown:
            names = "、".join(name[:40] for name in unknown[:5])
            return reply.error(
                400,
                "unknown-field",
                f"提交中含有本表单没有的项目：{names}。请从门户网站的表单页面提交。",
                back=back,
            )
        client_key = _single(values.get(formsbridge.IDEMPOTENCY_KEY)) or None
        if client_key is not None and not _valid_client_key(client_key):
            return reply.error(400, "bad-submission-id", "提交编号（_sid）格式不对。", back=back)
        errors = formsbridge.check(form, values)
        if errors:
            if reply.wants_json:
                return reply.error(
                    422, "invalid", f"有 {len(errors)} 处需要修改，提交尚未保存。", errors=errors
                )
            return self.form_again(reply, form, values, errors, back, next_url)
        answers = formsbridge.normalised(form, values)
        try:
            stored = await self.writer.submit(form.id, answers, client_key)
        except StorageError as exc:
            log.error("保存提交失败（表单 %s）：%s", form.id, failure(exc))
            return reply.error(
                503,
                "storage-unavailable",
                "系统暂时无法保存您的提交，请稍后再试。您的内容尚未保存。",
                extra_headers={"Retry-After": "30"},
                back=back,
            )
        return self.accepted(reply, form, stored.receipt, thanks)

    def accepted(self, reply: Reply, form: Form, receipt: str, thanks: str) -> Response:
        if reply.wants_json:
            return JSONResponse(
                {
                    "ok": True,
                    "receipt": receipt,
                    "message": "提交成功，感谢您的参与！",
                    "next": thanks,
                },
                status_code=201,
                headers=reply.headers(),
            )
        return RedirectResponse(thanks, status_code=303, headers=reply.headers())

    def form_again(
        self,
        reply: Reply,
        form: Form,
        values: formsbridge.Values,
        errors: dict[str, str],
        back: str,
        next_url: str | None,
    ) -> Response:
        shown: dict[str, Any] = {}
        for item in form.fields:
            raw = values.get(item.name)
            if raw is None:
                continue
            shown[item.name] = raw if isinstance(raw, str) else list(raw)
        hidden = {NEXT: next_url} if next_url else {}
        client_key = _single(values.get(formsbridge.IDEMPOTENCY_KEY))
        if client_key:
            hidden[formsbridge.IDEMPOTENCY_KEY] = client_key
        return reply.page(
            422,
            f"{form.title}：请修改后重新提交",
            [],
            reply.headers(),
            form=form,
            values=shown,
            errors=errors,
            hidden=hidden,
            back=back,
            labels={item.name: item.label for item in form.fields},
            action=form.id,  # relative: right behind a proxy that mounts the service under a prefix
        )

    async def read_values(self, request: Request) -> dict[str, str | list[str]]:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise _Rejected(400, "bad-request", "请求头 Content-Length 无效。")
            if int(declared) > limit:
                raise _too_large(limit)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "application/json",
        ):
            raise _Rejected(
                415,
                "unsupported-media-type",
                "不支持的提交格式：请以表单（application/x-www-form-urlencoded 或 multipart/form-data）或 JSON 提交。",
            )
        body = bytearray()
        try:
            with anyio.fail_after(self.settings.body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limit:
                        raise BodyTooLarge()
        except TimeoutError:
            raise _Rejected(
                408, "body-timeout",
                f"提交内容传送过慢（{self.settings.body_timeout:g} 秒内未传完），连接已断开，请重新提交。",
            ) from None
        except BodyTooLarge:
            raise _too_large(limit) from None
        except ClientDisconnect:
            raise _Rejected(400, "client-disconnected", "连接中断，提交未完成。") from None
        if media == "application/json":
            return _parse_json(bytes(body))
        if media == "multipart/form-data":
            return await _parse_multipart(request.headers, bytes(body))
        return _parse_urlencoded(bytes(body))

    async def health(self, request: Request) -> Response:
        problems: list[str] = []
        if not self.settings.forms:
            problems.append("没有加载任何表单")
        try:
            with anyio.fail_after(5):
                await self.writer.probe()
        except (StorageError, TimeoutError, sqlite3.Error) as exc:
            problems.append(f"数据库不可写：{exc}")
        body = {
            "ok": not problems,
            "forms": len(self.settings.forms),
            "open_forms": sum(
                1 for f in self.settings.forms.values() if formsbridge.status(f) is FormStatus.OPEN
            ),
            "problems": problems,
        }
        return JSONResponse(
            body, status_code=200 if not problems else 503, headers=SECURITY_HEADERS
        )

    async def export(self, request: Request) -> Response:
        reply = Reply(request, self.settings)
        reply.wants_json = True
        challenge = {"WWW-Authenticate": 'Bearer realm="gongzhi-intake"'}
        wait = self.staff_limit.take(rate_key(self.client(request)))
        if wait:
            return reply.rate_limited(wait, "请求")
        presented = bearer(request.headers.get("authorization"))
        if presented is None:
            return reply.error(
                401,
                "token-required",
                "需要工作人员凭证：请在请求头中提供 Authorization: Bearer <凭证>。",
                extra_headers=challenge,
            )
        form = self.settings.forms.get(request.path_params["form_id"])
        result = await anyio.to_thread.run_sync(self._open_export, presented, form)
        if result is None:
            return reply.error(
                401, "token-invalid", "凭证无效或已被吊销。", extra_headers=challenge
            )
        token, snapshot = result
        if form is None or snapshot is None:
            return reply.error(404, "unknown-form", "没有这个表单。")
        actor = f"token:{token.id} ({token.name})"
        # the staff member's address, never a resident's
        where = f"HTTP，来自 {self.client(request)}"
        rows = snapshot.rows

        def record(conn: sqlite3.Connection) -> None:
            write_audit(conn, actor, "export", form.id, rows, where)

        try:
            await self.writer.call(record)
        except StorageError as exc:
            await anyio.to_thread.run_sync(_close_snapshot, snapshot)
            log.error("审计日志写入失败，导出被拒绝：%s", failure(exc))
            return reply.error(503, "audit-unavailable", "无法写入审计日志，本次导出未执行。")
        audit_log.info("导出 表单=%s 行数=%d 凭证=%s", form.id, rows, token.id)
        stamp = formsbridge.china_today().strftime("%Y%m%d")
        return StreamingResponse(
            _stream(snapshot),
            media_type="text/csv; charset=utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{form.id}-responses-{stamp}.csv"',
            },
        )

    def _open_export(self, presented: str, form: Form | None) -> Any:
        """Check the token; for a known form, open its snapshot (the caller closes it)."""
        conn = connect(self.settings.db)
        try:
            token = verify_token(conn, presented)
            if token is None or form is None:
                conn.close()
                return None if token is None else (token, None)
            return token, ExportSnapshot(conn, form)
        except BaseException:
            conn.close()
            raise

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        method = request.headers.get("access-control-request-method", "").upper()
        if not origin or origin_of(origin) not in self.allowed_origins or method != "POST":
            return JSONResponse(
                {
                    "ok": False,
                    "code": "origin-not-allowed",
                    "message": "只接受从本门户网站提交的表单。",
                },
                status_code=403,
                headers=SECURITY_HEADERS,
            )
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin_of(origin) or origin,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type, Accept",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )

    async def form_link(self, request: Request) -> Response:
        form = self.settings.forms.get(request.path_params["form_id"])
        if form is None:
            return Reply(request, self.settings).error(404, "unknown-form", "没有这个表单。")
        return RedirectResponse(formsbridge.form_url(self.settings.site_url, form), status_code=303)

    async def home(self, request: Request) -> Response:
        reply = Reply(request, self.settings)
        return reply.page(
            200,
            "共治表单回收服务",
            ["本服务接收门户网站上参与表单的提交。请从门户网站的表单页面填写。"],
            reply.headers(),
            back=self.settings.site_url,
        )


def _close_snapshot(snapshot: ExportSnapshot) -> None:
    try:
        snapshot.close()
    finally:
        snapshot.conn.close()


async def _stream(snapshot: ExportSnapshot) -> AsyncIterator[bytes]:
    """The CSV in chunks, each read in a worker thread; the snapshot is closed however it ends."""
    try:
        while (chunk := await anyio.to_thread.run_sync(snapshot.next_chunk)) is not None:
            yield chunk.encode("utf-8")
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close_snapshot, snapshot)


class _Rejected(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _too_large(limit: int) -> _Rejected:
    return _Rejected(413, "too-large", f"提交内容过大（上限 {limit // 1024} KB），请精简后再提交。")


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _single(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _valid_client_key(key: str) -> bool:
    return 8 <= len(key) <= 64 and set(key) <= CLIENT_KEY_CHARS


def _add(values: dict[str, str | list[str]], key: str, value: str) -> None:
    if len(values) >= MAX_FIELDS and key not in values:
        raise _Rejected(400, "too-many-fields", "提交的项目过多。")
    current = values.get(key)
    if current is None:
        values[key] = value
    elif isinstance(current, list):
        current.append(value)
    else:
        values[key] = [current, value]


def _parse_urlencoded(body: bytes) -> dict[str, str | list[str]]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS * 4,
        )
    except (UnicodeDecodeError, ValueError):
        raise _Rejected(
            400, "bad-encoding", "提交内容无法解析（须为 UTF-8 编码的表单数据）。"
        ) from None
    values: dict[str, str | list[str]] = {}
    for key, value in pairs:
        _add(values, key, value)
    return values


async def _parse_multipart(headers: Headers, body: bytes) -> dict[str, str | list[str]]:
    async def stream() -> AsyncIterator[bytes]:
        yield body
        yield b""

    try:
        parser = MultiPartParser(headers, stream(), max_files=0, max_fields=MAX_FIELDS)
        data = await parser.parse()
    except (MultiPartException, UnicodeDecodeError, ValueError):
        raise _Rejected(
            400,
            "bad-multipart",
            "提交内容无法解析（表单数据格式有误，或附带了文件——本服务不接收文件）。",
        ) from None
    values: dict[str, str | list[str]] = {}
    for key, value in data.multi_items():
        if isinstance(value, UploadFile):
            raise _Rejected(400, "file-not-accepted", "本服务不接收文件。")
        _add(values, key, value)
    return values


def _parse_json(body: bytes) -> dict[str, str | list[str]]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Rejected(
            400, "bad-json", "提交内容不是有效的 JSON（须为 UTF-8 编码的对象）。"
        ) from None
    if not isinstance(data, dict):
        raise _Rejected(400, "bad-json", 'JSON 提交须为一个对象，如 {"字段名": "值"}。')
    if len(data) > MAX_FIELDS:
        raise _Rejected(400, "too-many-fields", "提交的项目过多。")
    values: dict[str, str | list[str]] = {}
    for key, value in data.items():
        _scalar(key)
        if value is None:
            continue
        if isinstance(value, list):
            if not all(
                isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
            ):
                raise _Rejected(400, "bad-json", f"“{key[:40]}”的值只能是文字或文字的列表。")
            values[key] = [_scalar(item) for item in value]
        elif isinstance(value, str | int | float | bool):
            values[key] = _scalar(value)
        else:
            raise _Rejected(400, "bad-json", f"“{key[:40]}”的值只能是文字或文字的列表。")
    return values


def _scalar(value: str | int | float | bool) -> str:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escaped in JSON ("\\ud800")
            raise _Rejected(400, "bad-json", "提交内容含有无法保存的字符（不成对的代理码位）。") from None
        return value
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def _not_found(request: Request, exc: Exception) -> Response:
    settings: IntakeSettings = request.app.state.settings
    reply = Reply(request, settings)
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return reply.error(
            405,
            "method-not-allowed",
            "不支持这种请求方式。",
            extra_headers={"Allow": exc.headers.get("Allow", "") if exc.headers else ""},
        )
    return reply.error(404, "not-found", "没有这个页面。")


async def _server_error(request: Request, exc: Exception) -> Response:
    settings: IntakeSettings = request.app.state.settings
    path = loggable_path(request.url.path, settings.forms)
    log.error("处理请求时出错：%s %s：%s", request.method, path, failure(exc))
    return Reply(request, settings).error(
        500, "internal-error", "服务内部出错，您的提交未保存，请稍后再试。"
    )


def create_app(settings: IntakeSettings) -> Starlette:
    intake = Intake(settings)
    app = Starlette(
        routes=[
            Route("/", intake.home, methods=["GET"]),
            Route("/healthz", intake.health, methods=["GET"]),
            Route("/f/{form_id}", intake.submit, methods=["POST"]),
            Route("/f/{form_id}", intake.preflight, methods=["OPTIONS"]),
            Route("/f/{form_id}", intake.form_link, methods=["GET"]),
            Route("/staff/forms/{form_id}/responses.csv", intake.export, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found, 500: _server_error},
        lifespan=intake.lifespan,
    )
    app.state.settings = settings
    app.state.intake = intake
    return app
