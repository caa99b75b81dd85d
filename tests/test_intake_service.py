"""The intake service, tested against the real server (``gongzhi intake serve``) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from test_intake_support import PORTAL, PORTAL_ORIGIN, VALID, Server, run_cli, write_forms

from generator.forms import rules
from generator.forms.definitions import load_forms

M = rules.MESSAGES


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("intake-data")
    write_forms(root / "data")
    return root / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("intake-server")
    srv = Server(
        data_dir,
        tmp / "intake.sqlite3",
        tmp / "server.log",
        "--max-body-kb",
        "16",
        "--rate-limit",
        "100000",
        "--burst",
        "100000",
    ).start()
    yield srv
    srv.stop()


def valid(**changes: object) -> dict:
    values = dict(VALID)
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return values


# -- valid and invalid submissions per field type ----------------------------------------------

INVALID_CASES = [
    ("nickname", None, M["required"]),
    ("nickname", "一二三四五六七八九十甲", M["too_long"].format(max=10, n=11)),
    ("unit", "三号楼", M["pattern"].format(description="楼号-单元-室，如 3-2-501")),
    ("body", "太短", M["too_short"].format(min=5, n=2)),
    ("topic", None, M["required_choice"]),
    ("topic", "不存在的类别", M["choice"]),
    ("tags", ["停车", "加装电梯", "绿化"], M["choices_max"].format(max=2)),
    ("tags", ["停车", "飞机场"], M["choice"]),
    ("age", "六十", M["number"]),
    ("age", "12.5", M["integer"]),
    ("age", "130", M["number_range"].format(min=0, max=120)),
    ("budget", "5000", M["number_range"].format(min=-1000, max=1000)),
    ("day", "2026/12/01", M["date"]),
    ("day", "2026-02-30", M["date"]),
    ("day", "2031-01-01", M["date_range"].format(min="2026-01-01", max="2030-12-31")),
    ("score", "6", M["rating"]),
    ("score", "好", M["rating"]),
    ("phone", "12345", M["phone"]),
    ("consent", None, M["required_consent"]),
    ("consent", "不同意", M["consent"]),
]


@pytest.mark.parametrize(("field", "value", "message"), INVALID_CASES)
def test_invalid_value_gets_the_shared_chinese_message(
    server: Server, field: str, value, message: str
):
    before = len(server.rows("t-open"))
    answer = server.post_json(
        "t-open", valid(**{field: value}) if value is not None else valid(**{field: None})
    )
    assert answer.status == 422
    body = answer.json()
    assert body["ok"] is False and body["code"] == "invalid"
    assert body["errors"] == {field: message}
    assert len(server.rows("t-open")) == before  # nothing stored


VALID_CASES = [
    ("nickname", "李"),
    ("unit", "12-1-1101"),
    ("body", None),  # optional
    ("tags", []),
    ("tags", "垃圾分类"),  # one choice as a plain value
    ("age", "０"),  # full-width digit from a Chinese input method
    ("budget", "-3.5"),
    ("day", "2030-12-31"),
    ("score", 5),  # a JSON number
    ("phone", "0571-86001234"),
    ("phone", "138 0013 8000"),
    ("consent", True),
]


@pytest.mark.parametrize(("field", "value"), VALID_CASES)
def test_valid_value_is_stored_normalised(server: Server, field: str, value):
    answer = server.post_json(
        "t-open", valid(**{field: value}) if value is not None else valid(**{field: None})
    )
    assert answer.status == 201, answer.text
    body = answer.json()
    assert body["ok"] is True and len(body["receipt"]) == 10
    stored = server.rows("t-open")[-1]
    expected = {
        "age": "0",
        "phone": "13800138000",
        "score": "5",
        "consent": "true",
        "tags": ["垃圾分类"],
    }
    if field in expected and value not in ("0571-86001234", []):
        assert stored[field] == expected[field]
    assert set(stored) == {f for f in VALID}


def test_plain_form_post_redirects_to_the_thank_you_page(server: Server):
    answer = server.post_form("t-open", valid())
    assert answer.status == 303
    assert answer.headers["location"] == f"{PORTAL}forms/t-open/thanks/"


def test_plain_post_honours_a_next_url_on_the_portal_only(server: Server):
    ok = server.post_form("t-open", valid(_next=f"{PORTAL}forms/t-open/thanks/?from=council"))
    assert ok.headers["location"] == f"{PORTAL}forms/t-open/thanks/?from=council"
    evil = server.post_form("t-open", valid(_next="https://evil.example/phish"))
    assert evil.status == 303
    assert evil.headers["location"] == f"{PORTAL}forms/t-open/thanks/"


def test_invalid_plain_post_shows_the_form_again_with_errors_beside_fields(server: Server):
    answer = server.post_form("t-open", valid(phone="123", score="9", nickname="小张"))
    assert answer.status == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    soup = BeautifulSoup(answer.text, "html.parser")
    assert soup.html["lang"] == "zh-CN"
    assert soup.select_one("#e-phone").get_text() == M["phone"]
    assert soup.select_one("#e-score").get_text() == M["rating"]
    phone = soup.select_one("#f-phone")
    assert phone["aria-invalid"] == "true" and phone["aria-describedby"] == "e-phone"
    assert phone["value"] == "123"  # what the resident typed is kept
    assert soup.select_one("#f-nickname")["value"] == "小张"
    assert soup.select_one("#summary a[href='#f-phone']") is not None
    form = soup.select_one("form")
    assert form["action"] == "t-open" and form["method"] == "post"  # relative to /f/t-open
    for element in soup.select("input[name]"):  # every field has a label
        if element.get("type") in ("hidden",) or element["name"] == "_hp":
            continue
        assert element.find_parent("label") or soup.select_one(f"label[for='{element.get('id')}']")
    assert not soup.select("script") and not soup.select("link")  # nothing from anywhere else


def test_the_error_page_shows_what_was_typed_as_text_never_as_markup(server: Server):
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    answer = server.post_form("t-open", valid(body=attack, unit=attack, phone="1"))
    assert answer.status == 422
    soup = BeautifulSoup(answer.text, "html.parser")
    assert not soup.select("script") and not soup.select("img")
    assert soup.select_one("#f-body").get_text() == attack
    assert soup.select_one("#f-unit")["value"] == attack


def test_resubmitting_the_error_page_form_is_accepted(server: Server):
    """The error page posts to the service's own origin; that origin is accepted."""
    answer = server.post_form(
        "t-open", valid(), headers={"Origin": f"http://127.0.0.1:{server.port}"}
    )
    assert answer.status == 303


def test_multipart_form_data_is_accepted_and_files_are_not(server: Server):
    boundary = "----gongzhi"

    def part(name: str, value: str, filename: str | None = None) -> str:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n"

    fields = "".join(
        part(k, x) for k, v in VALID.items() for x in (v if isinstance(v, list) else [v])
    )
    body = (fields + f"--{boundary}--\r\n").encode("utf-8")
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Accept": "application/json",
    }
    assert server.request("POST", "/f/t-open", body, headers).status == 201
    with_file = (fields + part("attachment", "xx", "a.txt") + f"--{boundary}--\r\n").encode("utf-8")
    answer = server.request("POST", "/f/t-open", with_file, headers)
    assert answer.status == 400 and "文件" in answer.json()["message"]


def test_idempotency_key_stores_a_retried_submission_once(server: Server):
    before = len(server.rows("t-open"))
    first = server.post_json("t-open", valid(_sid="retry-key-0001"))
    second = server.post_json("t-open", valid(_sid="retry-key-0001"))
    assert first.status == second.status == 201
    assert first.json()["receipt"] == second.json()["receipt"]
    assert len(server.rows("t-open")) == before + 1
    assert server.post_json("t-open", valid(_sid="bad key!")).status == 400


# -- abuse rules ---------------------------------------------------------------------------------


def test_unknown_form_is_404(server: Server):
    answer = server.post_json("no-such-form", valid())
    assert answer.status == 404 and answer.json()["message"] == "没有这个表单，请检查链接是否完整。"


def test_closed_form_is_410_gone(server: Server):
    answer = server.post_json("t-closed", valid())
    assert answer.status == 410
    assert "截止" in answer.json()["message"]
    html = server.post_form("t-closed", valid())
    assert html.status == 410 and "截止" in html.text and "<html" in html.text


def test_form_not_yet_open_is_refused(server: Server):
    answer = server.post_json("t-later", valid())
    assert answer.status == 403 and answer.json()["code"] == "form-not-open"


def test_unknown_fields_are_rejected(server: Server):
    before = len(server.rows())
    answer = server.post_json("t-open", valid(id_card="330100199001011234"))
    assert answer.status == 400 and answer.json()["code"] == "unknown-field"
    assert "id_card" in answer.json()["message"]
    assert len(server.rows()) == before


def test_honeypot_looks_accepted_but_is_not_stored(server: Server):
    before = len(server.rows())
    answer = server.post_json("t-open", valid(_hp="http://spam.example"))
    assert answer.status == 201 and answer.json()["ok"] is True and answer.json()["receipt"]
    plain = server.post_form("t-open", valid(_hp="spam"))
    assert plain.status == 303
    assert len(server.rows()) == before


def read_until_closed(sock: socket.socket) -> str:
    """The whole answer: the server closes the connection after refusing an oversize body."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8")


def test_declared_oversize_body_is_refused_before_it_is_sent(server: Server):
    """Only the headers are sent: the answer comes without the server reading any body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /f/t-open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Accept: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        reply = read_until_closed(sock)
    assert reply.startswith("HTTP/1.1 413")
    assert "提交内容过大" in reply


def test_chunked_oversize_body_is_cut_off_at_the_limit(server: Server):
    before = len(server.rows())
    big = json.dumps(valid(body="很" * 20000), ensure_ascii=False).encode("utf-8")
    chunks = [big[i : i + 4096] for i in range(0, len(big), 4096)]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /f/t-open HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Accept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close the connection before everything is sent
        reply = read_until_closed(sock)
    assert reply.startswith("HTTP/1.1 413")
    assert len(server.rows()) == before


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad-json"),
        (b"[1, 2]", "application/json", 400, "bad-json"),
        (b'{"nickname": {"a": 1}}', "application/json", 400, "bad-json"),
        (b"nickname=%E7%8E%8B%FF", "application/x-www-form-urlencoded", 400, "bad-encoding"),
        (b"<xml/>", "text/xml", 415, "unsupported-media-type"),
    ],
)
def test_malformed_bodies_are_refused(
    server: Server, body: bytes, content_type: str, status: int, code: str
):
    before = len(server.rows())
    answer = server.request(
        "POST", "/f/t-open", body, {"Content-Type": content_type, "Accept": "application/json"}
    )
    assert (answer.status, answer.json()["code"]) == (status, code)
    assert len(server.rows()) == before


def test_cors_preflight_only_for_the_portal(server: Server):
    ok = server.request(
        "OPTIONS",
        "/f/t-open",
        headers={
            "Origin": PORTAL_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert ok.status == 204
    assert ok.headers["access-control-allow-origin"] == PORTAL_ORIGIN
    evil = server.request(
        "OPTIONS",
        "/f/t-open",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert evil.status == 403 and "access-control-allow-origin" not in evil.headers
    assert evil.json()["message"] == "只接受从本门户网站提交的表单。"


def test_posts_from_other_origins_are_refused(server: Server):
    before = len(server.rows())
    evil = server.post_json("t-open", valid(), headers={"Origin": "https://evil.example"})
    assert evil.status == 403 and evil.json()["code"] == "origin-not-allowed"
    assert "access-control-allow-origin" not in evil.headers
    assert len(server.rows()) == before
    ok = server.post_json("t-open", valid(), headers={"Origin": PORTAL_ORIGIN})
    assert ok.status == 201 and ok.headers["access-control-allow-origin"] == PORTAL_ORIGIN


def test_other_methods_and_paths_answer_in_chinese(server: Server):
    assert (
        server.request("DELETE", "/f/t-open", headers={"Accept": "application/json"}).json()[
            "message"
        ]
        == "不支持这种请求方式。"
    )
    missing = server.get("/nothing-here", headers={"Accept": "application/json"})
    assert missing.status == 404 and missing.json()["message"] == "没有这个页面。"
    link = server.get("/f/t-open")
    assert link.status == 303 and link.headers["location"] == f"{PORTAL}forms/t-open/"


def test_health_reports_forms_and_a_writable_database(server: Server):
    answer = server.get("/healthz")
    assert answer.status == 200
    body = answer.json()
    assert body == {"ok": True, "forms": 4, "open_forms": 2, "problems": []}


def test_access_log_never_holds_query_strings_or_values(server: Server):
    answer = server.post_json("t-open?phone=13912345678", valid(phone="13712345678"))
    assert answer.status == 201
    log = server.log()
    assert '"POST /f/t-open HTTP/1.1" 201' in log
    assert "13912345678" not in log and "13712345678" not in log and "王阿姨" not in log


def test_nothing_malformed_was_stored(server: Server, data_dir: Path):
    """After every test above: each stored row passes the shared rules and has only form fields."""
    forms = {form.id: form for form in load_forms(data_dir)[0]}
    rows = server.rows("t-open")
    assert rows
    for answers in rows:
        assert set(answers) == {f.name for f in forms["t-open"].fields}
        assert rules.validate_submission(forms["t-open"], answers) == {}
    assert server.rows("t-closed") == [] and server.rows("t-later") == []


# -- rate limit and trusted proxies ---------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("intake-limited")
    plain = Server(
        data_dir, tmp / "a.sqlite3", tmp / "a.log", "--rate-limit", "1", "--burst", "3"
    ).start()
    proxied = Server(
        data_dir,
        tmp / "b.sqlite3",
        tmp / "b.log",
        "--rate-limit",
        "1",
        "--burst",
        "3",
        "--trusted-proxy",
        "127.0.0.1",
    ).start()
    yield plain, proxied
    plain.stop()
    proxied.stop()


def test_rate_limit_per_client_with_retry_after(limited):
    plain, _ = limited
    statuses = [plain.post_json("t-open", valid()).status for _ in range(3)]
    assert statuses == [201, 201, 201]
    refused = plain.post_json("t-open", valid())
    assert refused.status == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["message"].startswith("提交过于频繁")
    # X-Forwarded-For from an untrusted peer is ignored: a forged header buys nothing.
    assert (
        plain.post_json("t-open", valid(), headers={"X-Forwarded-For": "203.0.113.9"}).status == 429
    )
    assert len(plain.rows()) == 3


def test_staff_export_attempts_are_rate_limited(limited):
    plain, _ = limited
    path = "/staff/forms/t-open/responses.csv"
    guesses = [
        plain.get(path, headers={"Authorization": "Bearer gzs_00000000_" + "a" * 43}).status
        for _ in range(11)
    ]
    assert guesses[:10] == [401] * 10 and guesses[10] == 429


def test_forwarded_for_is_honoured_from_the_trusted_proxy(limited):
    _, proxied = limited
    first = {"X-Forwarded-For": "203.0.113.1"}
    assert [proxied.post_json("t-open", valid(), headers=first).status for _ in range(4)] == [
        201,
        201,
        201,
        429,
    ]
    # another resident behind the same proxy has a bucket of their own
    assert (
        proxied.post_json("t-open", valid(), headers={"X-Forwarded-For": "203.0.113.2"}).status
        == 201
    )
    # the client cannot prepend a fake hop: the rightmost untrusted address counts
    spoof = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}
    assert proxied.post_json("t-open", valid(), headers=spoof).status == 429


# -- staff export over HTTP -------------------------------------------------------------------------


def test_http_export_needs_a_valid_unrevoked_token_and_is_audited(server: Server, data_dir: Path):
    created = run_cli("intake", "token", "create", "--name", "测试工作人员", "--db", str(server.db))
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("gzs_") and "只显示这一次" in created.stderr
    path = "/staff/forms/t-open/responses.csv"

    assert server.get(path).status == 401
    wrong = server.get(path, headers={"Authorization": "Bearer " + token[:-2] + "xx"})
    assert wrong.status == 401 and wrong.json()["message"] == "凭证无效或已被吊销。"

    answer = server.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.body.startswith(b"\xef\xbb\xbf")
    forms = {form.id: form for form in load_forms(data_dir)[0]}
    lines = answer.body.decode("utf-8-sig").splitlines()
    assert lines[0].split(",") == rules.response_columns(forms["t-open"])
    rows = len(server.rows("t-open"))
    assert len(lines) == rows + 1

    token_id = token.split("_")[1]
    conn = sqlite3.connect(server.db)
    try:
        hashes = conn.execute("SELECT hash FROM staff_tokens WHERE id = ?", (token_id,)).fetchone()
        assert hashes is not None and token.encode() not in hashes[0]
        audit = conn.execute(
            "SELECT actor, action, form_id, row_count, detail FROM audit_log WHERE action = 'export'"
        ).fetchall()
    finally:
        conn.close()
    assert audit == [
        (f"token:{token_id} (测试工作人员)", "export", "t-open", rows, "HTTP，来自 127.0.0.1")
    ]

    revoked = run_cli("intake", "token", "revoke", token_id, "--db", str(server.db))
    assert revoked.returncode == 0
    assert server.get(path, headers={"Authorization": f"Bearer {token}"}).status == 401


def test_large_export_streams_the_same_file_over_http_and_the_command_line(
    server: Server, data_dir: Path, tmp_path: Path
):
    import datetime as dt

    from generator.intake.formsbridge import normalised
    from generator.intake.storage import insert_submission

    form = {f.id: f for f in load_forms(data_dir)[0]}["t-short"]
    conn = sqlite3.connect(server.db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(1234):
        answers = normalised(form, {**VALID, "body": f"第 {i} 条意见内容"})
        insert_submission(conn, "t-short", answers, None, dt.datetime.now(dt.UTC))
    conn.execute("COMMIT")
    conn.close()

    token = run_cli("intake", "token", "create", "--name", "导出测试", "--db", str(server.db))
    answer = server.get(
        "/staff/forms/t-short/responses.csv",
        headers={"Authorization": f"Bearer {token.stdout.strip()}"},
    )
    assert answer.status == 200
    assert "content-length" not in answer.headers  # streamed, not built in memory
    out = tmp_path / "t-short.csv"
    cli = run_cli(
        "intake", "export", "t-short", "--out", str(out), "--db", str(server.db),
        "--data", str(data_dir),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert out.read_bytes() == answer.body
    lines = answer.body.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 1234 and lines[0].startswith("response_id,submitted_at,")
    assert len({line.split(",")[0] for line in lines[1:]}) == 1234
