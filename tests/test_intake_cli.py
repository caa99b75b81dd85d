"""``gongzhi intake export|purge|token|serve`` and the pieces they rest on."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from test_intake_support import ROOT, VALID, Server, run_cli, write_forms

from generator.forms import rules
from generator.forms.definitions import load_forms
from generator.forms.responses import read_responses
from generator.intake.export import neutralise
from generator.intake.security import (
    TokenBucket,
    client_address,
    origin_of,
    parse_networks,
    safe_redirect,
)
from generator.intake.storage import initialise, insert_submission


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    write_forms(tmp_path / "data")
    return tmp_path / "data"


def forms_by_id(data_dir: Path) -> dict:
    return {form.id: form for form in load_forms(data_dir)[0]}


# -- export → ingest round trip --------------------------------------------------------------------

TRICKY = [
    {"body": '=HYPERLINK("http://evil.example","点我")', "nickname": "@张三", "budget": "-20"},
    {"body": "+86 的号码写在这里", "nickname": "-李四", "budget": "+5"},
    {"body": '含逗号,引号"和\n换行的意见', "nickname": "王五", "tags": ["停车"]},
    {"body": "\t以制表符开头的内容", "nickname": "赵六", "tags": []},
    {"body": "普通的意见内容", "nickname": "钱七", "score": "1"},
    {
        "body": "名字刚好十个字",
        "nickname": "=一二三四五六七八九",
    },  # at max_length before the apostrophe
]


def test_export_is_what_ingest_reads(data_dir: Path, tmp_path: Path):
    server = Server(
        data_dir,
        tmp_path / "intake.sqlite3",
        tmp_path / "server.log",
        "--rate-limit",
        "100000",
        "--burst",
        "100000",
    ).start()
    try:
        receipts = []
        for changes in TRICKY:
            answer = server.post_json("t-open", {**VALID, **changes})
            assert answer.status == 201, answer.text
            receipts.append(answer.json()["receipt"])
    finally:
        server.stop()
    out = tmp_path / "out" / "t-open.csv"
    result = run_cli(
        "intake",
        "export",
        "t-open",
        "--out",
        str(out),
        "--db",
        str(server.db),
        "--data",
        str(data_dir),
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(TRICKY)} 条" in result.stdout

    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    form = forms_by_id(data_dir)["t-open"]
    responses = read_responses(form, out)
    assert responses.issues == [] and responses.rejected == 0
    assert [row["response_id"] for row in responses.rows] == receipts
    by_id = {row["response_id"]: row for row in responses.rows}
    first, second = by_id[receipts[0]], by_id[receipts[1]]
    # ingest undoes the apostrophe: the round trip is exact
    assert first["body"] == TRICKY[0]["body"] and first["nickname"] == "@张三"
    assert second["nickname"] == "-李四" and by_id[receipts[5]]["nickname"] == TRICKY[5]["nickname"]
    assert first["budget"] == "-20" and second["budget"] == "+5"
    # while the file itself never holds a cell a spreadsheet would run
    cells = {cell for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"))) for cell in row}
    assert "'" + TRICKY[0]["body"] in cells and "'@张三" in cells and "'-李四" in cells
    assert "'=一二三四五六七八九" in cells  # 11 characters in the file, 10 after ingest
    assert "-20" in cells and "+5" in cells  # numbers stay numbers
    assert not any(cell.startswith(("=", "@")) for cell in cells)
    assert by_id[receipts[3]]["body"] == "以制表符开头的内容"  # trimmed by the shared rules
    assert by_id[receipts[2]]["body"] == TRICKY[2]["body"] and by_id[receipts[2]]["tags"] == [
        "停车"
    ]
    assert by_id[receipts[0]]["tags"] == ["停车", "绿化"]
    stamp = dt.datetime.fromisoformat(by_id[receipts[4]]["submitted_at"])
    assert stamp.utcoffset() == dt.timedelta(hours=8)  # China time, as staff read it
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == rules.response_columns(form)

    # and the command itself reads it unchanged, within the sample district's data
    sample = tmp_path / "sample" / "data"
    shutil.copytree(ROOT / "data", sample, ignore=shutil.ignore_patterns("cases", "reports"))
    for path in (data_dir / "forms").glob("*.yaml"):
        shutil.copy(path, sample / "forms" / path.name)
    results = tmp_path / "results.json"
    ingest = run_cli(
        "forms", "ingest", "t-open", str(out), "--data", str(sample), "--out", str(results)
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert json.loads(results.read_text("utf-8"))["n"] == len(TRICKY)

    audit = run_cli("intake", "audit", "--db", str(server.db))
    assert audit.returncode == 0 and f"导出 表单 t-open {len(TRICKY)} 条" in audit.stdout
    for changes in TRICKY:  # never a personal value in the audit log
        assert changes["nickname"] not in audit.stdout


def test_export_of_unknown_form_or_missing_database_says_why(data_dir: Path, tmp_path: Path):
    db = tmp_path / "intake.sqlite3"
    initialise(db)
    unknown = run_cli(
        "intake",
        "export",
        "nope",
        "--out",
        str(tmp_path / "x.csv"),
        "--db",
        str(db),
        "--data",
        str(data_dir),
    )
    assert (
        unknown.returncode == 1
        and "没有编号为“nope”的表单" in unknown.stderr
        and "t-open" in unknown.stderr
    )
    missing = run_cli(
        "intake",
        "export",
        "t-open",
        "--out",
        str(tmp_path / "x.csv"),
        "--db",
        str(tmp_path / "none.sqlite3"),
        "--data",
        str(data_dir),
    )
    assert missing.returncode == 2 and "找不到数据库" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


# -- purge -----------------------------------------------------------------------------------------


def test_purge_deletes_after_each_forms_retention(data_dir: Path, tmp_path: Path):
    db = tmp_path / "intake.sqlite3"
    initialise(db)
    now = dt.datetime.now(dt.UTC)
    conn = sqlite3.connect(db, isolation_level=None)
    ages = {"t-open": [1, 29, 31, 400], "t-short": [1, 6, 8], "t-gone": [500]}  # days ago
    for form_id, days in ages.items():
        for age in days:
            insert_submission(
                conn, form_id, {"body": f"{form_id}-{age}"}, None, now - dt.timedelta(days=age)
            )
    conn.close()

    dry = run_cli("intake", "purge", "--dry-run", "--db", str(db), "--data", str(data_dir))
    assert dry.returncode == 0, dry.stderr
    assert "t-open：将删除 2 条（保存期限 30 天）" in dry.stdout
    assert "t-short：将删除 1 条（保存期限 7 天）" in dry.stdout
    assert "t-gone" in dry.stderr and "未删除" in dry.stderr
    assert _bodies(db) == {f"{f}-{a}" for f, days in ages.items() for a in days}

    real = run_cli("intake", "purge", "--db", str(db), "--data", str(data_dir))
    assert real.returncode == 0 and "合计已删除 3 条" in real.stdout
    assert _bodies(db) == {"t-open-1", "t-open-29", "t-short-1", "t-short-6", "t-gone-500"}

    forget = run_cli(
        "intake", "purge", "--forget-unknown", "365", "--db", str(db), "--data", str(data_dir)
    )
    assert forget.returncode == 0
    assert "t-gone-500" not in _bodies(db)

    conn = sqlite3.connect(db)
    audit = conn.execute(
        "SELECT form_id, row_count FROM audit_log WHERE action = 'purge' ORDER BY id"
    ).fetchall()
    assert audit == [("t-open", 2), ("t-short", 1), ("t-gone", 1)]
    assert conn.execute("PRAGMA secure_delete").fetchone() is not None
    conn.close()


def test_purged_answers_do_not_linger_in_the_database_file(data_dir: Path, tmp_path: Path):
    db = tmp_path / "intake.sqlite3"
    initialise(db)
    conn = sqlite3.connect(db, isolation_level=None)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    secret = "独一无二的旧意见内容" * 20
    insert_submission(conn, "t-open", {"body": secret}, None, old)
    conn.close()
    assert run_cli("intake", "purge", "--db", str(db), "--data", str(data_dir)).returncode == 0
    data = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes()
        if db.with_name(db.name + "-wal").exists()
        else b""
    )
    assert secret.encode("utf-8") not in data


def _bodies(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {
            row[0]
            for row in conn.execute("SELECT json_extract(answers, '$.body') FROM submissions")
        }
    finally:
        conn.close()


# -- tokens and serve errors -----------------------------------------------------------------------


def test_token_lifecycle_on_the_command_line(tmp_path: Path):
    db = tmp_path / "intake.sqlite3"
    created = run_cli("intake", "token", "create", "--name", "街道办 小陈", "--db", str(db))
    assert created.returncode == 0
    token_id = created.stdout.strip().split("_")[1]
    listing = run_cli("intake", "token", "list", "--db", str(db))
    assert token_id in listing.stdout and "有效" in listing.stdout
    assert created.stdout.strip() not in listing.stdout
    assert run_cli("intake", "token", "revoke", token_id, "--db", str(db)).returncode == 0
    again = run_cli("intake", "token", "revoke", token_id, "--db", str(db))
    assert again.returncode == 1 and "没有编号为" in again.stderr
    assert "已吊销" in run_cli("intake", "token", "list", "--db", str(db)).stdout


def test_serve_refuses_a_busy_port_and_broken_forms_in_chinese(data_dir: Path, tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "intake",
            "serve",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "a.sqlite3"),
            "--data",
            str(data_dir),
        )
    assert result.returncode == 2 and "无法监听" in result.stderr
    (data_dir / "forms" / "t-open.yaml").write_text("id: t-open\ntitle: [坏\n", "utf-8")
    broken = run_cli(
        "intake",
        "serve",
        "--port",
        "1",
        "--db",
        str(tmp_path / "a.sqlite3"),
        "--data",
        str(data_dir),
    )
    assert (
        broken.returncode == 1
        and "表单定义未通过校验" in broken.stderr
        and "t-open.yaml" in broken.stderr
    )
    bad_proxy = run_cli("intake", "serve", "--trusted-proxy", "nginx", "--data", str(data_dir))
    assert bad_proxy.returncode == 2 and "不是有效的 IP 地址" in bad_proxy.stderr
    for result in (broken, bad_proxy):
        assert "Traceback" not in result.stderr


# -- building blocks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "numeric", "expected"),
    [
        ("=1+1", False, "'=1+1"),
        ("+86 138", False, "'+86 138"),
        ("-x", False, "'-x"),
        ("@SUM(A1)", False, "'@SUM(A1)"),
        ("\tx", False, "'\tx"),
        ("\rx", False, "'\rx"),
        ("-20", True, "-20"),
        ("+5.5", True, "+5.5"),
        ("-1+cmd", True, "'-1+cmd"),
        ("普通文字", False, "普通文字"),
        ("", False, ""),
        ("a=b", False, "a=b"),
    ],
)
def test_neutralise(cell: str, numeric: bool, expected: str):
    assert neutralise(cell, numeric) == expected


TRUST = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # rightmost untrusted hop
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # skip trusted inner proxies
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
    ],
)
def test_client_address(peer: str, header: str | None, expected: str):
    assert client_address(peer, header, TRUST) == expected


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.take("a", now=0.0) == 0
    assert bucket.take("a", now=0.0) == 0
    assert bucket.take("a", now=0.0) == pytest.approx(1.0)
    assert bucket.take("b", now=0.0) == 0  # each client its own bucket
    assert bucket.take("a", now=1.0) == 0
    small = TokenBucket(rate=1.0, burst=1, max_clients=2)
    for client in ("x", "y", "z"):
        small.take(client, now=0.0)
    assert len(small._buckets) == 2


def test_origins_and_redirects():
    assert origin_of("HTTPS://Portal.Example.gov.cn:443/forms/") == "https://portal.example.gov.cn"
    assert origin_of("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert origin_of("javascript:alert(1)") is None
    # found by the fuzzer (bench/bench_fuzz.py, intake_raw): these raised inside urlsplit → HTTP 500
    assert origin_of("http://evil.test: 787") is None
    assert origin_of("http://[::1") is None
    allowed = {"https://portal.example.gov.cn"}
    assert safe_redirect("https://portal.example.gov.cn/forms/x/thanks/", allowed)
    for bad in (
        "https://evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "https://portal.example.gov.cn\r\nX: y",
        "/relative",
    ):
        assert safe_redirect(bad, allowed) is None


def test_form_dates_are_dates_in_china(data_dir: Path):
    from generator.forms.model import FormStatus
    from generator.intake.formsbridge import status

    form = forms_by_id(data_dir)["t-open"]
    last_day = form.closes
    # 23:30 on the closing day in Beijing is 15:30 UTC: still open
    late = dt.datetime.combine(last_day, dt.time(15, 30), tzinfo=dt.UTC)
    assert status(form, late) is FormStatus.OPEN
    # 16:30 UTC is already 00:30 the next day in Beijing: closed, though still the same UTC day
    after = dt.datetime.combine(last_day, dt.time(16, 30), tzinfo=dt.UTC)
    assert status(form, after) is FormStatus.CLOSED
    # the opening day begins at 00:00 Beijing time = 16:00 UTC the day before
    first = dt.datetime.combine(form.opens - dt.timedelta(days=1), dt.time(16, 0), tzinfo=dt.UTC)
    assert status(form, first) is FormStatus.OPEN
    assert status(form, first - dt.timedelta(seconds=1)) is FormStatus.UPCOMING


def test_health_is_503_without_any_form(tmp_path: Path):
    (tmp_path / "data" / "forms").mkdir(parents=True)
    server = Server(tmp_path / "data", tmp_path / "intake.sqlite3", tmp_path / "server.log")
    server.start(healthy=False)
    try:
        answer = server.get("/healthz")
        assert answer.status == 503
        assert answer.json()["ok"] is False
        assert answer.json()["problems"] == ["没有加载任何表单"]
    finally:
        server.stop()


# -- the single writer ----------------------------------------------------------------------------


def test_writer_commits_in_groups_and_isolates_a_failing_job(tmp_path: Path):
    import asyncio

    from generator.intake.storage import StorageError, Writer

    writer = Writer(tmp_path / "intake.sqlite3")
    writer.start()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    async def burst() -> list:
        jobs = [writer.submit("t-open", {"body": f"n{i}"}, None) for i in range(400)]
        jobs.insert(200, writer.call(broken))
        jobs.append(writer.submit("t-open", {"body": "dup"}, "same-key-1"))
        jobs.append(writer.submit("t-open", {"body": "dup"}, "same-key-1"))
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(burst())
    finally:
        writer.stop()
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], StorageError)
    stored = [r for r in results if not isinstance(r, Exception) and r is not None]
    assert len(stored) == 402
    assert stored[-1].receipt == stored[-2].receipt and stored[-1].duplicate
    assert writer.committed_groups < 100  # hundreds of submissions, a few fsyncs
    conn = sqlite3.connect(tmp_path / "intake.sqlite3")
    assert conn.execute("SELECT count(*) FROM submissions").fetchone()[0] == 401
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
