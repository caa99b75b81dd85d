"""A small loopback load generator for the intake service (benchmark and durability test).

Raw asyncio streams with HTTP/1.1 keep-alive: a Python HTTP client library would cost more CPU
than the server it measures on a 2-core machine. It only talks to loopback addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Outcome:
    index: int
    status: int | None  # None: no answer (connection refused, reset, timed out)
    latency: float
    body: bytes = b""

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    elapsed: float = 0.0

    def with_status(self, status: int) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def latency_percentile(self, p: float, status: int | None = 201) -> float:
        values = sorted(o.latency for o in self.outcomes if status is None or o.status == status)
        if not values:
            return float("nan")
        rank = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
        return values[rank]


class _Connection:
    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        assert self.reader is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), self.timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = (
            await asyncio.wait_for(self.reader.readexactly(length), self.timeout) if length else b""
        )
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def post_json(host: str, port: int, path: str, payload: dict) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


async def run_load(
    host: str,
    port: int,
    path: str,
    payload: Callable[[int], dict],
    *,
    total: int | None = None,
    duration: float | None = None,
    concurrency: int = 200,
    timeout: float = 30.0,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """POST ``payload(i)`` for i = 0, 1, ... from ``concurrency`` keep-alive clients.

    Stops after ``total`` requests or ``duration`` seconds, whichever comes first, or when
    ``stop`` is set. A request
    that gets no answer is recorded with ``status=None`` and its client reconnects.
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("load generator only talks to loopback addresses")
    if total is None and duration is None:
        raise ValueError("give total or duration")
    result = LoadResult()
    counter = iter(range(total if total is not None else 2**62))
    started = time.perf_counter()
    deadline = started + duration if duration is not None else None

    async def client() -> None:
        connection = _Connection(host, port, timeout)
        try:
            for index in counter:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                if stop is not None and stop.is_set():
                    break
                raw = post_json(host, port, path, payload(index))
                begin = time.perf_counter()
                try:
                    status, _, body = await connection.request(raw)
                    outcome = Outcome(index, status, time.perf_counter() - begin, body)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    connection.close()
                    outcome = Outcome(index, None, time.perf_counter() - begin)
                    await asyncio.sleep(0.01)
                result.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result
