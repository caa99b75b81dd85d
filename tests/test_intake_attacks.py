"""The intake as an internet-facing service under attack, against the real server on 127.0.0.1.

Every attack here is bounded in count and time and talks only to the server this test started:
slow-loris headers and bodies, endless header lines, oversized multipart bodies, rate-limit
dodges through forged or rotating addresses, token guesses, and personal values that must never
reach a log line. Memory is read from the server's own ``/proc/<pid>/status``.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from test_intake_support import PORTAL_ORIGIN, VALID, Server, write_forms

PERSONAL = "13698765432"  # a phone number that must appear in no log line
NAME = "鲍秀兰"


def rss_kb(server: Server, key: str = "VmRSS") -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc status")


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes (or resets) the connection within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def answer_of(sock: socket.socket, within: float = 10.0) -> bytes:
    sock.settimeout(within)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attack-data")
    write_forms(root / "data")
    return root / "data"


@pytest.fixture
def guarded(data_dir: Path, tmp_path: Path):
    srv = Server(
        data_dir, tmp_path / "intake.sqlite3", tmp_path / "server.log",
        "--header-timeout", "2", "--body-timeout", "3", "--max-connections", "64",
        "--max-body-kb", "16", "--rate-limit", "100000", "--burst", "100000",
    ).start()
    yield srv
    srv.stop()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def test_slow_loris_headers_are_cut_off_and_connections_are_capped(guarded: Server):
    before = rss_kb(guarded)
    attackers = []
    for _ in range(200):  # more than --max-connections
        try:
            sock = connect(guarded)
            sock.sendall(b"POST /f/t-open HTTP/1.1\r\nHost: intake.test\r\nX-Slow: ")
            attackers.append(sock)
        except OSError:
            pass  # refused at the door: what the cap is for
    time.sleep(0.5)
    for sock in attackers:  # a drip that never completes the headers
        try:
            sock.sendall(b"a")
        except OSError:
            pass
    assert all(closed_by_server(sock, within=5.0) for sock in attackers)
    for sock in attackers:
        sock.close()
    assert rss_kb(guarded) - before < 30_000
    # the service is still there for everyone else
    assert guarded.post_json("t-open", dict(VALID)).status == 201


def test_a_body_sent_byte_by_byte_is_timed_out(guarded: Server):
    sock = connect(guarded)
    sock.sendall(
        b"POST /f/t-open HTTP/1.1\r\nHost: intake.test\r\nContent-Type: application/json\r\n"
        b"Accept: application/json\r\nContent-Length: 4000\r\n\r\n{"
    )
    started = time.monotonic()
    answer = b""
    sock.settimeout(0.5)
    while time.monotonic() - started < 8:
        try:
            sock.sendall(b" ")
            answer += sock.recv(65536)
            if answer:
                break
        except TimeoutError:
            continue
        except OSError:
            break
    answer += answer_of(sock, 2)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert "传送过慢".encode() in answer
    assert time.monotonic() - started < 6


def test_an_endless_header_is_refused_with_bounded_memory(guarded: Server):
    before = rss_kb(guarded)
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake.test\r\nX-Long: ")
    sent = 0
    try:
        for _ in range(64 * 1024):  # up to 64 MiB, one KiB at a time
            sock.sendall(b"x" * 1024)
            sent += 1024
    except OSError:
        pass
    answer = answer_of(sock, 3)
    sock.close()
    assert sent < 8 * 1024 * 1024, f"the server read {sent} bytes of one header"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert rss_kb(guarded) - before < 20_000
    assert guarded.get("/healthz").status == 200


def test_an_oversized_multipart_body_is_cut_off_with_bounded_memory(guarded: Server):
    before = rss_kb(guarded)
    sock = connect(guarded)
    boundary = b"----gongzhi"
    sock.sendall(
        b"POST /f/t-open HTTP/1.1\r\nHost: intake.test\r\nAccept: application/json\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    part = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="body"\r\n\r\n' + b"y" * 60_000 + b"\r\n"
    sent = 0
    try:
        for _ in range(2000):  # up to 120 MB
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            sent += len(part)
    except OSError:
        pass
    answer = answer_of(sock, 3)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 20_000_000
    assert rss_kb(guarded) - before < 20_000


def test_cors_refuses_every_origin_but_the_portal(guarded: Server):
    for origin in ("http://evil.test", "null", "http://portal.test.evil.test", "https://portal.test",
                   "http://portal.test:8080", "http://portal.test: 787", "http://[::1"):
        answer = guarded.request("OPTIONS", "/f/t-open", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert answer.status == 403 and "access-control-allow-origin" not in answer.headers, origin
        posted = guarded.post_json("t-open", dict(VALID), headers={"Origin": origin})
        assert posted.status == 403 and "access-control-allow-origin" not in posted.headers, origin
    ok = guarded.post_json("t-open", dict(VALID), headers={"Origin": PORTAL_ORIGIN})
    assert ok.status == 201 and ok.headers["access-control-allow-origin"] == PORTAL_ORIGIN


@pytest.fixture
def proxied(data_dir: Path, tmp_path: Path):
    srv = Server(
        data_dir, tmp_path / "intake.sqlite3", tmp_path / "server.log",
        "--rate-limit", "1", "--burst", "2", "--trusted-proxy", "127.0.0.1",
    ).start()
    yield srv
    srv.stop()


def test_rotating_ipv6_addresses_within_one_network_share_a_bucket(proxied: Server):
    """A home or mobile connection gets a whole /64; each address in it is the same client."""
    statuses = [
        proxied.post_json("t-open", dict(VALID), headers={"X-Forwarded-For": f"2001:db8:1:2::{n:x}"}).status
        for n in range(1, 6)
    ]
    assert statuses[:2] == [201, 201] and set(statuses[2:]) == {429}
    # another /64 is another client
    assert proxied.post_json("t-open", dict(VALID), headers={"X-Forwarded-For": "2001:db8:1:3::1"}).status == 201
    # a forged hop to the left of the proxy's own entry changes nothing
    forged = {"X-Forwarded-For": "198.51.100.1, 2001:db8:1:2::99"}
    assert proxied.post_json("t-open", dict(VALID), headers=forged).status == 429


def test_token_checks_cost_the_same_whatever_is_wrong(proxied: Server):
    """Unknown id, wrong secret, revoked token: one scrypt each (no early answer to time)."""
    import hashlib
    import sqlite3

    from generator.intake import security
    from generator.intake.storage import initialise

    conn = sqlite3.connect(proxied.db)
    initialise(proxied.db)
    _, good = security.create_token(conn, "甲", "test")
    revoked, revoked_text = security.create_token(conn, "乙", "test")
    security.revoke_token(conn, revoked.id, "test")
    calls = []
    real = hashlib.scrypt
    try:
        hashlib.scrypt = lambda *a, **k: calls.append(1) or real(*a, **k)
        security.hashlib.scrypt = hashlib.scrypt
        prefix, token_id, secret = good.split("_", 2)
        cases = {
            "unknown id": f"gzs_{'0' * 8}_{secret}",
            "wrong secret": f"gzs_{token_id}_{'A' * 43}",
            "revoked": revoked_text,
            "good": good,
        }
        for what, presented in cases.items():
            calls.clear()
            result = security.verify_token(conn, presented)
            assert len(calls) == 1, what
            assert (result is not None) == (what == "good"), what
    finally:
        hashlib.scrypt = real
        security.hashlib.scrypt = real
        conn.close()
    for presented in (cases["unknown id"], cases["wrong secret"], cases["revoked"]):
        answer = proxied.get("/staff/forms/t-open/responses.csv",
                             headers={"Authorization": f"Bearer {presented}", "X-Forwarded-For": "192.0.2.50"})
        assert answer.status == 401 and answer.json()["code"] == "token-invalid"


def test_no_personal_value_reaches_any_log_line(data_dir: Path, tmp_path: Path):
    """Valid, invalid, malformed and crashing submissions with personal values; then read the log."""
    srv = Server(data_dir, tmp_path / "intake.sqlite3", tmp_path / "server.log",
                 "--rate-limit", "100000", "--burst", "100000").start()
    try:
        marked = dict(VALID, phone=PERSONAL, nickname=NAME)
        assert srv.post_json("t-open", marked).status == 201
        assert srv.post_json(f"t-open?phone={PERSONAL}", dict(marked, age="x" + PERSONAL)).status == 422
        assert srv.post_form("t-open", dict(marked, score=PERSONAL)).status == 422
        assert srv.request("POST", "/f/t-open", f'{{"phone": "{PERSONAL}", '.encode(),
                           {"Content-Type": "application/json"}).status == 400
        # a lone surrogate cannot be stored as UTF-8: the storage layer must fail without quoting it
        broken = json.dumps(dict(marked, body=f"{NAME}\ud800{PERSONAL}")).encode()
        assert srv.request("POST", "/f/t-open", broken, {"Content-Type": "application/json"}).status in (
            201, 400, 422, 503)
        assert srv.request("GET", f"/nowhere/{PERSONAL}?n={quote(NAME)}").status == 404
        srv.request("POST", f"/f/{PERSONAL}", b"{}", {"Content-Type": "application/json"})
    finally:
        srv.stop()
    log = srv.log()
    assert "POST /f/t-open" in log  # the access log was on
    assert PERSONAL not in log and NAME not in log, log[-3000:]


def test_a_logged_exception_keeps_its_type_and_line_but_not_its_message():
    """Starlette re-raises after a 500 and uvicorn logs the traceback: its last line quotes the input."""
    import io
    import logging

    from generator.intake.server import SafeExceptions, log_config

    config = log_config(access_log=True, form_ids=["t-open"])
    assert config["filters"]["safe_exceptions"]["()"] is SafeExceptions
    assert "safe_exceptions" in config["handlers"]["plain"]["filters"]  # uvicorn's and ours
    assert config["loggers"]["uvicorn"]["handlers"] == ["plain"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(config["formatters"]["plain"]["format"]))
    handler.addFilter(SafeExceptions())
    logger = logging.getLogger("gongzhi.test.safe-exceptions")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            int(PERSONAL + "x")
        except ValueError:
            logger.exception("Exception in ASGI application")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Exception in ASGI application" in text and "ValueError" in text
    assert "test_intake_attacks.py" in text  # where it happened
    assert PERSONAL not in text and "Traceback" not in text
