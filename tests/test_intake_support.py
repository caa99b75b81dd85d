"""Shared helpers for the intake tests: form fixtures, a real server process, HTTP calls.

The server is the real ``gongzhi intake serve`` started as a subprocess on 127.0.0.1 and a free
port; nothing here talks to any other address.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from generator.intake.formsbridge import china_today

ROOT = Path(__file__).resolve().parent.parent
GONGZHI = [sys.executable, "-m", "generator.cli"]
PORTAL = "http://portal.test/"
PORTAL_ORIGIN = "http://portal.test"

FIELDS_YAML = """\
fields:
  - {name: nickname, label: 称呼, kind: 单行文本, required: true, max_length: 10, personal: true}
  - {name: unit, label: 门牌, kind: 单行文本, pattern: "[0-9]+-[0-9]+-[0-9]+", pattern_description: 楼号-单元-室，如 3-2-501}
  - {name: body, label: 内容, kind: 多行文本, min_length: 5, max_length: 200}
  - {name: topic, label: 类别, kind: 单选, required: true, options: [环境卫生, 公共设施, 其他]}
  - {name: tags, label: 关心的事, kind: 多选, options: [停车, 加装电梯, 垃圾分类, 绿化], max_choices: 2}
  - {name: age, label: 年龄, kind: 数字, min: 0, max: 120, integer: true}
  - {name: budget, label: 建议金额, kind: 数字, min: -1000, max: 1000}
  - {name: day, label: 方便的日期, kind: 日期, min_date: 2026-01-01, max_date: 2030-12-31}
  - {name: score, label: 满意度, kind: 评分}
  - {name: phone, label: 联系电话, kind: 电话, personal: true}
  - {name: consent, label: 我同意, kind: 同意, required: true}
"""


def form_yaml(form_id: str, opens: dt.date, closes: dt.date, retention_days: int = 30) -> str:
    return f"""\
id: {form_id}
title: 测试表单 {form_id}
kind: 居民意见
purpose: 测试用表单（示例数据）
owner: {{kind: 村社, id: xinfeng}}
audience: 测试
opens: {opens.isoformat()}
closes: {closes.isoformat()}
sample_data: true
{FIELDS_YAML}privacy:
  purpose: 测试
  seen_by: 测试人员
  retention_days: {retention_days}
  contact: 测试联系方式（示例）
"""


def write_forms(data_dir: Path) -> None:
    """Open, closed, upcoming and short-retention forms, dated around today in China."""
    today = china_today()
    forms = data_dir / "forms"
    forms.mkdir(parents=True, exist_ok=True)
    day = dt.timedelta(days=1)
    (forms / "t-open.yaml").write_text(
        form_yaml("t-open", today - 30 * day, today + 30 * day), "utf-8"
    )
    (forms / "t-closed.yaml").write_text(
        form_yaml("t-closed", today - 60 * day, today - day), "utf-8"
    )
    (forms / "t-later.yaml").write_text(
        form_yaml("t-later", today + day, today + 60 * day), "utf-8"
    )
    (forms / "t-short.yaml").write_text(
        form_yaml("t-short", today - 30 * day, today + 30 * day, retention_days=7), "utf-8"
    )


VALID = {
    "nickname": "王阿姨",
    "unit": "3-2-501",
    "body": "楼下路灯坏了三天了",
    "topic": "公共设施",
    "tags": ["停车", "绿化"],
    "age": "67",
    "budget": "-20",
    "day": "2026-12-01",
    "score": "4",
    "phone": "13800138000",
    "consent": "同意",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Server:
    """``gongzhi intake serve`` as a subprocess, with its log in a file."""

    def __init__(self, data_dir: Path, db: Path, log: Path, *extra: str, site_url: str = PORTAL):
        self.data_dir, self.db, self.log_path, self.extra = data_dir, db, log, extra
        self.site_url = site_url
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0, healthy: bool = True) -> Server:
        """Start and wait until /healthz answers (200, or anything when ``healthy`` is False)."""
        self.port = free_port()
        args = [
            *GONGZHI,
            "intake",
            "serve",
            "--db",
            str(self.db),
            "--data",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--site-url",
            self.site_url,
            *self.extra,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=log, env={**os.environ})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text('utf-8')}")
            try:
                if self.get("/healthz").status == 200 or not healthy:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text('utf-8')}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    # HTTP

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_json(
        self, form_id: str, payload: object, headers: dict[str, str] | None = None
    ) -> Answer:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.request(
            "POST",
            f"/f/{form_id}",
            body,
            {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})},
        )

    def post_form(
        self,
        form_id: str,
        values: dict,
        headers: dict[str, str] | None = None,
        path_suffix: str = "",
    ) -> Answer:
        """A browser's plain form post (no JavaScript): URL-encoded, navigation, HTML accepted."""
        body = urlencode(values, doseq=True).encode("ascii")
        return self.request(
            "POST",
            f"/f/{form_id}{path_suffix}",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                "Sec-Fetch-Mode": "navigate",
                **(headers or {}),
            },
        )

    def rows(self, form_id: str | None = None) -> list[dict]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            sql = "SELECT answers FROM submissions"
            params: tuple = ()
            if form_id:
                sql += " WHERE form_id = ?"
                params = (form_id,)
            return [json.loads(row[0]) for row in conn.execute(sql, params)]
        finally:
            conn.close()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GONGZHI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
