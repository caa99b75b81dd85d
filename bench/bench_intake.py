"""Benchmark the form intake service: sustained submissions per second and latency percentiles.

Starts the real ``gongzhi intake serve`` on 127.0.0.1 with a temporary database, drives it
with a bounded keep-alive load for a fixed time from this process (loopback only), then stops
the server and checks that every acknowledged submission is in the database.

    .venv/bin/python bench/bench_intake.py                    # 200 clients, 20 s
    .venv/bin/python bench/bench_intake.py --clients 50 --seconds 10 --json bench/out/intake.json

The client shares the machine with the server, so the figures are a floor for a dedicated host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.intake.loadgen import run_load  # noqa: E402

FORM = """\
id: bench
title: 基准测试表单（示例数据）
kind: 居民意见
purpose: 基准测试
owner: {kind: 村社, id: bench}
audience: 基准测试
opens: 2000-01-01
closes: 2999-12-31
sample_data: true
fields:
  - {name: category, label: 类别, kind: 单选, required: true, options: [社区服务, 环境卫生, 物业管理, 其他]}
  - {name: content, label: 意见, kind: 多行文本, required: true, min_length: 10, max_length: 1000}
  - {name: satisfaction, label: 评分, kind: 评分}
  - {name: phone, label: 电话, kind: 电话}
  - {name: consent, label: 同意, kind: 同意, required: true}
privacy: {purpose: 基准测试, seen_by: 无, retention_days: 1, contact: 无}
"""


def payload(index: int) -> dict:
    return {
        "category": "环境卫生",
        "content": f"第 {index} 条示例意见：小区东门的路灯坏了好几天，晚上出入不方便，请尽快修理。",
        "satisfaction": str(index % 5 + 1),
        "phone": "13800138000",
        "consent": "同意",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("服务未能启动")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("服务启动超时")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), to report cost per submission."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description="表单回收服务基准测试（仅限本机回环地址）")
    parser.add_argument("--clients", type=int, default=200, help="并发客户端数（默认 200）")
    parser.add_argument("--seconds", type=float, default=20.0, help="持续时间（默认 20 秒）")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="预热时间，不计入结果（默认 2 秒）"
    )
    parser.add_argument("--json", type=Path, help="把结果另存为 JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gongzhi-bench-") as tmp:
        data = Path(tmp) / "data" / "forms"
        data.mkdir(parents=True)
        (data / "bench.yaml").write_text(FORM, encoding="utf-8")
        db = Path(tmp) / "intake.sqlite3"
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "generator.cli",
            "intake",
            "serve",
            "--db",
            str(db),
            "--data",
            str(data.parent),
            "--port",
            str(port),
            "--site-url",
            "http://127.0.0.1:8000/",
            "--rate-limit",
            "100000000",
            "--burst",
            "100000000",
            "--no-access-log",
            "--max-connections",
            str(args.clients * 2 + 100),
        ]
        server = subprocess.Popen(
            command, cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        try:
            wait_healthy(port, server)
            asyncio.run(
                run_load(
                    "127.0.0.1",
                    port,
                    "/f/bench",
                    payload,
                    duration=args.warmup,
                    concurrency=args.clients,
                )
            )
            cpu_before = cpu_seconds(server.pid)
            load_before = os.getloadavg()[0]
            result = asyncio.run(
                run_load(
                    "127.0.0.1",
                    port,
                    "/f/bench",
                    payload,
                    duration=args.seconds,
                    concurrency=args.clients,
                )
            )
            server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()

    statuses = Counter(o.status for o in result.outcomes)
    ok = statuses.get(201, 0)
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}",
        "clients": args.clients,
        "seconds": round(result.elapsed, 2),
        "requests": len(result.outcomes),
        "statuses": {str(k): v for k, v in statuses.items()},
        "submissions_per_second": round(ok / result.elapsed, 1),
        "latency_ms": {
            p: round(result.latency_percentile(float(p)) * 1000, 1)
            for p in ("50", "90", "99", "99.9")
        },
        "server_cpu_ms_per_submission": round(server_cpu / max(ok, 1) * 1000, 3),
        "load_average_at_start": round(load_before, 2),
        "stored_rows_including_warmup": stored,
        "integrity_check": integrity,
    }
    print(f"机器：{figures['machine']}")
    print(
        f"并发客户端 {args.clients}，持续 {figures['seconds']} 秒，请求 {figures['requests']} 次，状态 {figures['statuses']}"
    )
    print(f"持续吞吐：{figures['submissions_per_second']} 条/秒")
    lat = figures["latency_ms"]
    print(f"延迟（毫秒）：p50 {lat['50']}，p90 {lat['90']}，p99 {lat['99']}，p99.9 {lat['99.9']}")
    print(
        f"服务进程每条提交耗 CPU {figures['server_cpu_ms_per_submission']} 毫秒（与机器上其他负载无关的成本）"
    )
    print(
        f"开始时系统负载 {figures['load_average_at_start']}（其他进程也在用 CPU 时，吞吐会相应降低）"
    )
    print(f"数据库行数（含预热）{stored}，完整性检查 {integrity}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if integrity == "ok" and ok == len(result.outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
