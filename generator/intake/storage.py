"""SQLite storage of submissions, staff tokens and the audit log.

Durability: the database runs in WAL mode with ``synchronous=FULL``, so every commit is on disk
(the WAL is fsynced) before it returns; a power cut cannot lose an answered submission. The cost
of an fsync per commit is paid once per *group*: the service has a single writer thread that takes
every submission waiting in its queue, inserts them in one transaction, commits, and only then
wakes the requests that wait for it (group commit). SQLite allows one writer at a time anyway; one
writer connection means no ``database is locked`` retries under load, and the event loop is never
blocked by disk I/O. Readers (export, health) use their own connections, which WAL lets run
beside the writer. Command-line tools that write while the service runs (purge, tokens) wait on
``busy_timeout``.

Nothing but the validated answers and the time of receipt is stored: no address, no headers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 15_000
MAX_GROUP = 512  # submissions committed together at most

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id          INTEGER PRIMARY KEY,
    form_id     TEXT NOT NULL,
    received_at TEXT NOT NULL,              -- UTC, ISO 8601 with microseconds and Z: sorts as text
    receipt     TEXT NOT NULL UNIQUE,       -- shown to the resident (回执编号)
    client_key  TEXT,                       -- optional idempotency key (_sid) sent by the client
    answers     TEXT NOT NULL CHECK (json_valid(answers)),
    UNIQUE (form_id, client_key)
);
CREATE INDEX IF NOT EXISTS submissions_form_time ON submissions (form_id, received_at);
CREATE TABLE IF NOT EXISTS staff_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    salt        BLOB NOT NULL,
    hash        BLOB NOT NULL,
    params      TEXT NOT NULL,              -- scrypt n,r,p as JSON
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,              -- "token:<id> (<name>)" or "cli:<system user>"
    action      TEXT NOT NULL,              -- export | purge | token-create | token-revoke
    form_id     TEXT,
    row_count   INTEGER,
    detail      TEXT                        -- never personal values
);
"""


class StorageError(Exception):
    """The database cannot be opened or written; the message is Chinese."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(moment: dt.datetime) -> str:
    """UTC ISO 8601 with microseconds, so that text order is time order."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud on the phone


def new_receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(10))


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the service's settings (WAL, synchronous=FULL, busy timeout)."""
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"数据库 {path} 无法切换到 WAL 模式（当前 {mode}）")
            # after a checkpoint, shrink the write-ahead log back to at most 64 MiB
            conn.execute("PRAGMA journal_size_limit = 67108864")
        conn.execute("PRAGMA synchronous = FULL")
        return conn
    except sqlite3.Error as exc:
        raise StorageError(f"无法打开数据库 {path}：{exc}") from exc


def initialise(path: Path) -> None:
    """Create or upgrade the schema. Safe to run while the service runs."""
    conn = connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"数据库 {path} 的结构版本（{version}）比本程序新（{SCHEMA_VERSION}），请升级 gongzhi"
            )
        conn.executescript(
            "BEGIN IMMEDIATE;" + SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
        )
    except sqlite3.Error as exc:
        raise StorageError(f"无法初始化数据库 {path}：{exc}") from exc
    finally:
        conn.close()


@dataclass(frozen=True)
class Stored:
    """The outcome of storing one submission."""

    receipt: str
    duplicate: bool  # the same idempotency key was stored before; nothing new was written


@dataclass
class _Job:
    kind: str  # "submission" | "probe" | "call"
    payload: Any
    future: asyncio.Future | None
    loop: asyncio.AbstractEventLoop | None


_STOP = object()


class Writer:
    """The single writer: a thread that commits queued submissions in groups.

    ``await writer.submit(...)`` returns only after the transaction holding the submission has
    committed (and, with synchronous=FULL, reached the disk).
    """

    def __init__(self, path: Path):
        self.path = path
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.committed_groups = 0
        self.committed_rows = 0

    def start(self) -> None:
        initialise(self.path)
        self._conn = connect(self.path)
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def submit(self, form_id: str, answers: dict[str, Any], client_key: str | None) -> Stored:
        return await self._enqueue("submission", (form_id, answers, client_key))

    async def probe(self) -> bool:
        """Whether the database accepts a write transaction now (for /healthz)."""
        return await self._enqueue("probe", None)

    async def call(self, function: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``function(conn)`` inside a write transaction on the writer thread."""
        return await self._enqueue("call", function)

    async def _enqueue(self, kind: str, payload: Any) -> Any:
        if not self.running:
            raise StorageError("写入线程未运行")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(kind, payload, future, loop))
        return await future

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
            self._commit_group(group)

    def _commit_group(self, group: list[_Job]) -> None:
        conn = self._conn
        assert conn is not None
        results: list[tuple[_Job, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in group:
                results.append((job, True, self._apply(conn, job)))
            conn.execute("COMMIT")
            self.committed_groups += 1
            self.committed_rows += len(group)
        except Exception:  # one bad job must not sink the others: retry one by one
            self._rollback(conn)
            results = [self._commit_one(conn, job) for job in group]
        self._resolve(results)

    def _commit_one(self, conn: sqlite3.Connection, job: _Job) -> tuple[_Job, bool, Any]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            value = self._apply(conn, job)
            conn.execute("COMMIT")
            self.committed_rows += 1
            return (job, True, value)
        except Exception as exc:
            self._rollback(conn)
            return (job, False, StorageError(f"保存失败：{exc}"))

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @staticmethod
    def _apply(conn: sqlite3.Connection, job: _Job) -> Any:
        if job.kind == "submission":
            form_id, answers, client_key = job.payload
            return insert_submission(conn, form_id, answers, client_key, utc_now())
        if job.kind == "probe":
            conn.execute("SELECT count(*) FROM audit_log WHERE 0").fetchone()
            return True
        if job.kind == "call":
            return job.payload(conn)
        raise ValueError(job.kind)

    @staticmethod
    def _resolve(results: list[tuple[_Job, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for job, ok, value in results:
            if job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job, ok, value))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # the loop has closed: nobody waits any more
                pass


def _settle(items: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in items:
        future = job.future
        if future is None or future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def insert_submission(
    conn: sqlite3.Connection,
    form_id: str,
    answers: dict[str, Any],
    client_key: str | None,
    received: dt.datetime,
) -> Stored:
    """Insert one submission inside the caller's transaction; idempotent per client key."""
    if client_key is not None:
        row = conn.execute(
            "SELECT receipt FROM submissions WHERE form_id = ? AND client_key = ?",
            (form_id, client_key),
        ).fetchone()
        if row is not None:
            return Stored(row[0], duplicate=True)
    text = json.dumps(answers, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for _ in range(5):
        receipt = new_receipt()
        try:
            conn.execute(
                "INSERT INTO submissions (form_id, received_at, receipt, client_key, answers)"
                " VALUES (?, ?, ?, ?, ?)",
                (form_id, timestamp(received), receipt, client_key, text),
            )
            return Stored(receipt, duplicate=False)
        except sqlite3.IntegrityError as exc:
            if "receipt" not in str(exc):
                raise
    raise StorageError("无法生成唯一的回执编号")


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    id: int
    form_id: str
    received_at: dt.datetime
    receipt: str
    answers: dict[str, Any]


def iter_submissions(conn: sqlite3.Connection, form_id: str) -> Iterator[Submission]:
    """Submissions of one form in the order they were received."""
    cursor = conn.execute(
        "SELECT id, form_id, received_at, receipt, answers FROM submissions"
        " WHERE form_id = ? ORDER BY received_at, id",
        (form_id,),
    )
    for row in cursor:
        yield Submission(row[0], row[1], parse_timestamp(row[2]), row[3], json.loads(row[4]))


def count_by_form(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT form_id, count(*) FROM submissions GROUP BY form_id"))


# -- audit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str
    action: str
    form_id: str | None
    row_count: int | None
    detail: str | None


def write_audit(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    form_id: str | None = None,
    row_count: int | None = None,
    detail: str | None = None,
) -> None:
    """Append to the audit log (inside the caller's transaction, or on its own)."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, form_id, row_count, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (timestamp(utc_now()), actor, action, form_id, row_count, detail),
    )


def read_audit(conn: sqlite3.Connection, limit: int = 100) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT at, actor, action, form_id, row_count, detail FROM audit_log"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [AuditEntry(*row) for row in rows]
