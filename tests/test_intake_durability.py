"""Durability under load: 200 concurrent clients, 10,000 submissions, then SIGKILL mid-load.

Every submission that received a success answer must be in the database after the restart,
none twice, and the database must pass SQLite's integrity check. Each submission carries a
unique client nonce (in its free-text field) that identifies it in the database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from pathlib import Path

from test_intake_support import VALID, Server, write_forms

from generator.forms import rules
from generator.forms.definitions import load_forms
from generator.intake.loadgen import Outcome, run_load

CLIENTS = 200
FIRST_LOAD = 10_000


def payload(prefix: str):
    def make(index: int) -> dict:
        return {**VALID, "body": f"nonce-{prefix}-{index:06d}", "score": str(index % 5 + 1)}

    return make


def nonce(outcome: Outcome, prefix: str) -> str:
    return f"nonce-{prefix}-{outcome.index:06d}"


def test_every_answered_submission_survives_sigkill(tmp_path: Path):
    write_forms(tmp_path / "data")
    db = tmp_path / "intake.sqlite3"
    limits = (
        "--rate-limit",
        "10000000",
        "--burst",
        "10000000",
        "--no-access-log",
        "--max-connections",
        "2000",
    )
    server = Server(tmp_path / "data", db, tmp_path / "server.log", *limits).start()
    try:
        # 1. a full load: every request must succeed
        first = asyncio.run(
            run_load(
                "127.0.0.1",
                server.port,
                "/f/t-open",
                payload("a"),
                total=FIRST_LOAD,
                concurrency=CLIENTS,
            )
        )
        statuses = Counter(o.status for o in first.outcomes)
        assert statuses == {201: FIRST_LOAD}, statuses

        # 2. a second load, killed with SIGKILL while requests are in flight
        killed_at: list[float] = []

        async def second_load() -> list[Outcome]:
            stop = asyncio.Event()
            answered = 0

            def watch(outcome: Outcome) -> None:
                nonlocal answered
                if outcome.status == 201:
                    answered += 1
                if answered >= 1500 and not killed_at:
                    server.kill()  # no warning, no graceful shutdown
                    killed_at.append(time.monotonic())
                if killed_at and time.monotonic() - killed_at[0] > 0.5:
                    stop.set()

            result = await run_load(
                "127.0.0.1",
                server.port,
                "/f/t-open",
                payload("b"),
                total=50_000,
                concurrency=CLIENTS,
                timeout=5,
                on_outcome=watch,
                stop=stop,
            )
            return result.outcomes

        second = asyncio.run(second_load())
        assert killed_at, "the server was never killed"
        assert server.process.returncode == -9
        failed = [o for o in second if o.status is None]
        assert failed, "the kill did not interrupt any request"
        assert {o.status for o in second} <= {201, None}
    finally:
        server.stop()

    # 3. restart on the same database; it comes up healthy and keeps accepting
    restarted = Server(tmp_path / "data", db, tmp_path / "server2.log", *limits).start()
    try:
        assert restarted.get("/healthz").json()["ok"] is True
        after = restarted.post_json("t-open", {**VALID, "body": "nonce-c-000000"})
        assert after.status == 201
    finally:
        restarted.stop()

    # 4. every success is stored exactly once, nothing is corrupted
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT receipt, answers FROM submissions WHERE form_id = 't-open'"
        ).fetchall()
    finally:
        conn.close()
    stored = Counter(json.loads(answers)["body"] for _, answers in rows)
    duplicates = [body for body, count in stored.items() if count > 1]
    assert duplicates == []
    assert len({receipt for receipt, _ in rows}) == len(rows)

    acknowledged = {nonce(o, "a") for o in first.outcomes} | {
        nonce(o, "b") for o in second if o.status == 201
    }
    missing = acknowledged - set(stored)
    assert missing == set(), f"{len(missing)} acknowledged submissions lost"
    receipts = {o.json()["receipt"] for o in first.outcomes} | {
        o.json()["receipt"] for o in second if o.status == 201
    }
    assert receipts <= {receipt for receipt, _ in rows}
    # what is stored beyond the acknowledged ones was in flight at the kill: sent, never answered
    sent_b = {nonce(o, "b") for o in second}
    assert set(stored) - acknowledged <= sent_b | {"nonce-c-000000"}

    form = {f.id: f for f in load_forms(tmp_path / "data")[0]}["t-open"]
    for _, answers in rows[:: max(1, len(rows) // 500)]:
        assert rules.validate_submission(form, json.loads(answers)) == {}


def test_sigterm_finishes_what_is_in_flight_and_exits_cleanly(tmp_path: Path):
    write_forms(tmp_path / "data")
    db = tmp_path / "intake.sqlite3"
    limits = ("--rate-limit", "10000000", "--burst", "10000000", "--no-access-log")
    server = Server(tmp_path / "data", db, tmp_path / "server.log", *limits).start()
    stopped: list[float] = []

    async def load() -> list[Outcome]:
        stop = asyncio.Event()

        def watch(outcome: Outcome) -> None:
            if outcome.status == 201 and outcome.index >= 1000 and not stopped:
                assert server.process is not None
                server.process.terminate()  # SIGTERM, as systemctl stop sends
                stopped.append(time.monotonic())
            if stopped and time.monotonic() - stopped[0] > 0.5:
                stop.set()

        result = await run_load(
            "127.0.0.1", server.port, "/f/t-open", payload("t"), total=20_000,
            concurrency=100, timeout=10, on_outcome=watch, stop=stop,
        )  # fmt: skip
        return result.outcomes

    outcomes = asyncio.run(load())
    assert server.process is not None
    # uvicorn re-raises SIGTERM after its graceful shutdown; systemd counts that as a clean stop
    assert server.process.wait(30) in (0, -15)
    assert "未完成的写入均已提交" in server.log()  # the lifespan shutdown ran
    assert "Traceback" not in server.log()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        bodies = Counter(
            json.loads(a)["body"] for (a,) in conn.execute("SELECT answers FROM submissions")
        )
    finally:
        conn.close()
    answered = {nonce(o, "t") for o in outcomes if o.status == 201}
    assert answered and answered <= set(bodies)
    assert max(bodies.values()) == 1
    assert {o.status for o in outcomes} <= {201, 503, None}
