"""Fuzz targets and input generators, shared by the fast profile in ``tests/test_fuzz.py`` and
the long runs in ``bench/bench_fuzz.py`` (random generation) and ``bench/fuzz_atheris.py``
(coverage-guided).

A *target* takes one generated input and runs one of Gongzhi's input paths in this process:

==================  ==========================================================================
``entity_yaml``     an editor's YAML file, read and flattened (``load.read_entity_file``)
``validate``        the whole validator on a small data folder holding that file (``validate.check``)
``form_yaml``       a participation form's definition (``forms.definitions.read_form``)
``case_csv``        a case-record CSV through the DuckDB check (``casecheck.check_case_files``)
``responses_csv``   a responses CSV for ``gongzhi forms ingest`` (``read_responses``, ``aggregate``)
``intake_body``     a submission to the intake application (ASGI, in process: every body parser)
``intake_raw``      raw HTTP bytes to the real ``gongzhi intake serve`` on 127.0.0.1
``cli_validate``    ``gongzhi validate`` on such a folder: exit code 0, 1 or 2, nothing else
``cli_stats``       ``gongzhi stats`` on case files the validator has not passed
``cli_ingest``      ``gongzhi forms ingest`` on a responses file
==================  ==========================================================================

A target returns normally when the input ended as it must: ``Issue`` records, a refusal with a
Chinese message, or a clean result. Anything else raises ``Crash`` (an exception that escaped,
an HTTP 500, an issue or error message with no Chinese in it). Hangs and memory are the
harness's business: ``guarded`` runs a target under a time limit.

The generators take a ``random.Random`` and return bytes. They start from real files of the
sample (so inputs get deep into the code) and break them: structure swapped, values from a
list of troublemakers, anchors and aliases, nesting, huge scalars, other encodings, NULs,
ragged rows, Excel dates, random byte damage.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import random
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "tests" / "fixtures" / "validate" / "base"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Crash(Exception):
    """The input did not end as an issue, a Chinese refusal or a result."""


class Hang(Crash):
    """The target ran past its time limit."""


# ---------------------------------------------------------------------------- generators

TROUBLE = [
    "", " ", "~", "null", "yes", "no", "on", "0", "-0", "00123", "0x1F", "1e999", "-1e999", "NaN",
    ".inf", "1_000", "3.14159265358979323846264338327950288", "9" * 400, "-" * 50,
    "2026-02-30", "2026-13-01", "2026/3/1", "2026年3月1日", "45123", "45123.5", "1900-01-00",
    "0000-00-00", "2026-03-01T25:61:00", "2026-03-01 08:00:00+99:00", "9999-12-31T23:59:59Z",
    "<script>alert(1)</script>", "[链接](javascript:alert(1))", "{{ 7*7 }}", "{% raw %}", "*a",
    "&a", "!!python/object:os.system", "\x00", "\x1b[31m", "\ufeff", "\u202e", "\ud7ff", "😀" * 30,
    "新丰社区", "第一网格", "临平街道", "已办结", "网格", "满意", "环境卫生", "居民上报", "社区",
    "a" * 5000, "中" * 3000, "\t", "\r", "\r\n", "\n\n", "'", '"', "\\", ",", ";", "|", ">", "#",
    "=cmd|'/c calc'!A1", "+1", "@SUM(1)", "xinfeng", "xinfeng-01", "linping", "nanyuan", "yuanhua",
]
ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16", "utf-16-le", "utf-32", "latin-1", "big5"]


def _read(path: Path) -> str:
    return path.read_text("utf-8")


def _seeds(folder: Path, pattern: str) -> list[str]:
    return [_read(p) for p in sorted(folder.rglob(pattern)) if p.is_file() and not p.name.startswith("_")]


_SEED_CACHE: dict[str, list[str]] = {}


def seeds(kind: str) -> list[str]:
    if kind not in _SEED_CACHE:
        if kind == "entity":
            found = _seeds(BASE, "*.yaml") + _seeds(REPO / "data" / "communities", "*.yaml")[:20]
        elif kind == "form":
            found = _seeds(REPO / "data" / "forms", "*.yaml")
        elif kind == "cases":
            found = [_read(BASE / "cases" / "2026q1.csv")]
        elif kind == "responses":
            found = [_read(p) for p in sorted((REPO / "tests" / "fixtures" / "forms").glob("*valid*.csv"))]
            found += [_read(REPO / "tests" / "fixtures" / "forms" / "parking-survey-broken.csv")]
        else:
            raise KeyError(kind)
        _SEED_CACHE[kind] = found
    return _SEED_CACHE[kind]


def scalar(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(TROUBLE)
    if roll < 0.6:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.2 else rng.randint(-5, 500)
    if roll < 0.7:
        return rng.choice([True, False, None, 0.5, -1.25, float("inf")])
    return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0x4E00, 0x9FFF), rng.randint(0, 0x10FFFF)]))
                   for _ in range(rng.randint(0, 30)))


def mutate_tree(value: object, rng: random.Random, keys: list[str], depth: int = 0) -> object:
    """Swap, drop, retype and nest parts of a parsed document (a few changes, not all)."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            roll = rng.random()
            if roll < 0.05:
                continue  # dropped
            if roll < 0.1:
                key = rng.choice(keys + [scalar(rng)]) if keys else scalar(rng)
            out[key] = mutate_tree(child, rng, keys, depth + 1)
        if rng.random() < 0.1:
            out[rng.choice(keys) if keys else "x"] = scalar(rng)
        return out if rng.random() > 0.03 else list(out.values())
    if isinstance(value, list):
        out = [mutate_tree(v, rng, keys, depth + 1) for v in value if rng.random() > 0.05]
        if out and rng.random() < 0.1:
            out = out * rng.randint(2, 30)
        if rng.random() < 0.05:
            out.append(mutate_tree(out[0], rng, keys, depth + 1) if out else scalar(rng))
        return out if rng.random() > 0.03 else {"x": out}
    roll = rng.random()
    if roll < 0.15:
        return scalar(rng)
    if roll < 0.17:
        return [value, scalar(rng)]
    if roll < 0.19:
        return {"x": value}
    return value


def _collect_keys(value: object, into: set[str]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            into.add(str(key))
            _collect_keys(child, into)
    elif isinstance(value, list):
        for child in value:
            _collect_keys(child, into)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_PARSED: dict[str, tuple[object, list[str]]] = {}


def _parsed(seed: str) -> tuple[object, list[str]]:
    """A seed file parsed once, with every key it uses."""
    if seed not in _PARSED:
        try:
            tree = yaml.load(seed, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            tree = seed
        keys: set[str] = set()
        _collect_keys(tree, keys)
        _PARSED[seed] = (tree, sorted(keys))
    return _PARSED[seed]


def _dump(value: object, rng: random.Random) -> str:
    try:
        return yaml.dump(value, Dumper=_DUMPER, allow_unicode=rng.random() < 0.8, sort_keys=False,
                              default_flow_style=rng.choice([False, None, True]), width=rng.choice([80, 20, 10**6]))
    except (yaml.YAMLError, ValueError, OverflowError):
        return repr(value)


YAML_SPECIALS = [
    # alias bombs, recursion, nesting, merges, tags, documents, directives
    lambda rng: "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefghi", "bcdefghij", strict=True)),
    lambda rng: "a: &a [*a]\nb: &b {k: *b}\n",
    lambda rng: "x: " + "[" * rng.randint(10, 5000) + "]" * rng.randint(0, 5000) + "\n",
    lambda rng: "x: " + "{a: " * rng.randint(10, 3000) + "1" + "}" * rng.randint(0, 3000) + "\n",
    lambda rng: "".join(" " * i + "k:\n" for i in range(rng.randint(10, 1500))) + " " * 1500 + "v\n",
    lambda rng: "base: &b {name: 一, kind: 社区}\nx:\n  <<: *b\n  <<: [*b, *b]\n",
    lambda rng: "--- !!binary |\n  R0lGODlhDAAMAIQAAP//9/X17unp5WZmZgAAAOfn515eXvPz7Y6OjuDg4J+fn5\n",
    lambda rng: "%YAML 1.1\n%TAG ! tag:x,2000:\n--- !foo {a: 1}\n--- b\n...\n",
    lambda rng: "name: " + "长" * rng.randint(1000, 2_000_000) + "\n",
    lambda rng: "? [a, b]\n: c\n? {x: 1}\n: d\n",
    lambda rng: "a: !!python/object/apply:os.system ['true']\n",
    lambda rng: "a: !!float 1e400\nb: !!int 99999999999999999999999999999\nc: !!timestamp 2001-13-14\n",
    lambda rng: "\t- a\n\tb: c\n",
    lambda rng: "a: 1\na: 2\n" * rng.randint(1, 50),
]


def gen_yaml(rng: random.Random, kind: str = "entity") -> bytes:
    """A YAML file, mostly a damaged copy of a real one, encoded somehow."""
    roll = rng.random()
    if roll < 0.12:
        text = rng.choice(YAML_SPECIALS)(rng)
    else:
        seed = rng.choice(seeds(kind))
        if roll < 0.75:
            parsed, keys = _parsed(seed)
            text = _dump(mutate_tree(parsed, rng, keys), rng)
        else:
            text = seed
        if rng.random() < 0.15:  # an anchor on one line and aliases to it later
            lines = text.splitlines()
            if len(lines) > 2:
                i = rng.randrange(len(lines))
                if ":" in lines[i] and not lines[i].rstrip().endswith(":"):
                    key, _, rest = lines[i].partition(":")
                    lines[i] = f"{key}: &x{rest}"
                    lines.insert(rng.randrange(i + 1, len(lines) + 1), f"{'  ' * rng.randint(0, 2)}alias: *x")
                text = "\n".join(lines) + "\n"
    data = _encode(text, rng)
    return damage(data, rng) if rng.random() < 0.25 else data


def _encode(text: str, rng: random.Random) -> bytes:
    encoding = "utf-8" if rng.random() < 0.75 else rng.choice(ENCODINGS)
    if encoding == "utf-8":
        return text.encode("utf-8", "surrogatepass")  # lone surrogates: not UTF-8 at all
    return text.encode(encoding, errors="replace")


def damage(data: bytes, rng: random.Random) -> bytes:
    """Random byte-level damage: flips, cuts, inserted NULs and bytes, duplicated spans."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not buf:
            buf += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
            continue
        op = rng.randrange(6)
        i = rng.randrange(len(buf))
        if op == 0:
            buf[i] = rng.getrandbits(8)
        elif op == 1:
            del buf[i:i + rng.randint(1, 64)]
        elif op == 2:
            buf[i:i] = rng.choice([b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\r", b"\t", b"\x85", b"\xe4\xb8"])
        elif op == 3:
            j = min(len(buf), i + rng.randint(1, 256))
            buf[i:i] = buf[i:j] * rng.randint(1, 20)
        elif op == 4:
            del buf[i:]
        else:
            buf[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16)))
    return bytes(buf)


EXCEL_DATES = ["45292", "45292.34", "2026/1/1 8:10", "1/1/2026 08:10", "2026-1-1 8:10", "2026.01.01",
               "20260101", "2026-01-01T08:10:00.000Z", "2026-01-01 08:10:00.123456789", "#VALUE!", "#N/A"]


def gen_csv(rng: random.Random, kind: str = "cases") -> bytes:
    """A CSV file: a real one with rows added, cells replaced, rows made ragged, and so on."""
    text = rng.choice(seeds(kind))
    rows = [line.split(",") for line in text.splitlines()]
    header, body = rows[0], rows[1:]
    for _ in range(rng.choice([0, 1, 5, 50, 500]) if rng.random() < 0.5 else 0):
        body.append(list(rng.choice(body)) if body else [""] * len(header))
    for row in body:
        for j in range(len(row)):
            roll = rng.random()
            if roll < 0.05:
                row[j] = rng.choice(EXCEL_DATES)
            elif roll < 0.12:
                row[j] = str(scalar(rng))
        if rng.random() < 0.05:
            del row[rng.randrange(len(row)):]  # ragged: short
        elif rng.random() < 0.05:
            row.extend(str(scalar(rng)) for _ in range(rng.randint(1, 5)))  # ragged: long
    if rng.random() < 0.1:
        rng.shuffle(header)
    if rng.random() < 0.05:
        header = [h.upper() if rng.random() < 0.3 else h for h in header] + (["extra"] if rng.random() < 0.5 else [])
    lines = [",".join(_quote(c, rng) for c in row) for row in [header, *body]]
    sep = rng.choice(["\n", "\r\n", "\r"]) if rng.random() < 0.2 else "\n"
    text = sep.join(lines) + (sep if rng.random() < 0.9 else "")
    data = _encode(text, rng)
    return damage(data, rng) if rng.random() < 0.2 else data


def _quote(cell: str, rng: random.Random) -> str:
    if any(ch in cell for ch in ',"\n\r') or rng.random() < 0.05:
        return '"' + cell.replace('"', '""' if rng.random() < 0.95 else '"') + '"'
    return cell


@dataclass(frozen=True)
class HttpInput:
    content_type: str
    body: bytes
    chunks: int = 1
    accept: str = "application/json"
    origin: str | None = None


def gen_http(rng: random.Random) -> HttpInput:
    """A submission body in one of the three accepted media types (or another), often broken."""
    from test_intake_support import VALID  # the tests' form fixture, written by ``intake_app``

    values: dict[str, object] = {k: mutate_tree(v, rng, list(VALID)) for k, v in VALID.items()}
    for _ in range(rng.randint(0, 3)):
        values[rng.choice(list(VALID) + ["_next", "_sid", "_hp", "x" * rng.randint(1, 300)])] = scalar(rng)
    roll = rng.random()
    if roll < 0.35:
        try:
            body = json.dumps(values, ensure_ascii=rng.random() < 0.5, default=str).encode()
        except (ValueError, TypeError):
            body = b"{}"
        ctype = "application/json"
    elif roll < 0.65:
        from urllib.parse import urlencode

        body = urlencode([(k, str(v)) for k, v in values.items()], doseq=True, errors="surrogatepass").encode()
        ctype = "application/x-www-form-urlencoded" + rng.choice(["", "; charset=utf-8", "; charset=gbk"])
    elif roll < 0.9:
        boundary = rng.choice(["b", "----gz" + str(rng.randint(0, 10**6)), "x" * 70, "a b", ""])
        parts = []
        for key, value in values.items():
            disposition = f'form-data; name="{key}"'
            if rng.random() < 0.05:
                disposition += '; filename="a.txt"'
            parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n".encode(
                "utf-8", "surrogatepass"))
        body = b"".join(parts) + (f"--{boundary}--\r\n".encode() if rng.random() < 0.9 else b"")
        ctype = f"multipart/form-data; boundary={boundary}" if rng.random() < 0.95 else "multipart/form-data"
    else:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        ctype = rng.choice(["text/plain", "application/xml", "", "application/json; charset=latin-1"])
    if rng.random() < 0.3:
        body = damage(body, rng)
    return HttpInput(ctype, body, chunks=rng.choice([1, 1, 2, 7]),
                     accept=rng.choice(["application/json", "text/html", "*/*"]),
                     origin=rng.choice([None] * 6 + ["http://portal.test", "http://portal.test", "http://evil.test", "null"]))


# ---------------------------------------------------------------------------- targets


def _chinese(text: str, what: str) -> None:
    if not CHINESE.search(text):
        raise Crash(f"{what} has no Chinese: {text[:200]!r}")


# DuckDB errors that mean our SQL was wrong for the file, not that the file is unreadable
OUR_SQL_BROKE = re.compile(r"(Binder|Parser|Catalog|Internal|Not implemented) Error", re.IGNORECASE)


def _issues_ok(issues) -> None:
    from generator.issues import Issue

    for issue in issues:
        if not isinstance(issue, Issue):
            raise Crash(f"not an Issue: {issue!r}")
        _chinese(issue.message, f"issue {issue.code}")
        if OUR_SQL_BROKE.search(issue.message):
            raise Crash(f"issue {issue.code} hides a bug: {issue.message[:300]}")


class Workspace:
    """A scratch data folder (the validate fixture plus the real contract), made once per process."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gongzhi-fuzz-"))
        self.data = self.root / "data"
        shutil.copytree(BASE, self.data)
        shutil.copy(REPO / "data" / "datapackage.yaml", self.data / "datapackage.yaml")
        (self.data / "forms").mkdir()
        from generator.contract import load_contract

        self.contract = load_contract(self.data)
        self.community = self.data / "communities" / "xinfeng.yaml"
        self.community_seed = self.community.read_bytes()
        self.case_file = self.data / "cases" / "2026q1.csv"
        self.case_seed = self.case_file.read_bytes()

    @contextlib.contextmanager
    def holding(self, path: Path, data: bytes) -> Iterator[Path]:
        """``path`` holds ``data`` inside the block; the fixture is whole again after it."""
        path.write_bytes(data)
        try:
            yield path
        finally:
            self.restore()

    def restore(self) -> None:
        self.community.write_bytes(self.community_seed)
        self.case_file.write_bytes(self.case_seed)
        for extra in (self.data / "forms").iterdir():
            extra.unlink()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_WORKSPACE: Workspace | None = None


def workspace() -> Workspace:
    global _WORKSPACE
    if _WORKSPACE is None:
        _WORKSPACE = Workspace()
    return _WORKSPACE


def entity_yaml(data: bytes) -> None:
    from generator.layout import ENTITY_SOURCES
    from generator.load import Flattener, FoundFile, read_entity_file

    ws = workspace()
    source = next(s for s in ENTITY_SOURCES if s.folder == "communities")
    with ws.holding(ws.community, data):
        _, issues = read_entity_file(FoundFile(ws.community, source, "xinfeng"), "data/communities/xinfeng.yaml",
                                     Flattener(ws.contract.field_names()))
    _issues_ok(issues)


def validate(data: bytes) -> None:
    from generator.validate import check

    ws = workspace()
    with ws.holding(ws.community, data):
        result = check(ws.data, cases=False, contract=ws.contract)
    _issues_ok(result.issues)


def form_yaml(data: bytes) -> None:
    from generator.forms.definitions import read_form

    ws = workspace()
    with ws.holding(ws.data / "forms" / "fuzz-form.yaml", data) as path:
        _, issues = read_form(path, "data/forms/fuzz-form.yaml", "https://intake.example.gov.cn")
    _issues_ok(issues)


def case_csv(data: bytes) -> None:
    from generator.casecheck import check_case_files

    ws = workspace()
    with ws.holding(ws.case_file, data):
        issues = check_case_files([ws.case_file], ws.contract.tables["cases"],
                                  communities={"xinfeng", "yuanhua"},
                                  grids={"xinfeng-01": "xinfeng", "xinfeng-02": "xinfeng"},
                                  root=ws.root, threads=1, memory_limit="256MB")
    _issues_ok(issues)


_RESPONSE_FORM = None


def responses_csv(data: bytes) -> None:
    import datetime as dt

    from generator.forms.definitions import load_forms
    from generator.forms.responses import aggregate, read_responses

    global _RESPONSE_FORM
    if _RESPONSE_FORM is None:
        forms, _ = load_forms(REPO / "data")
        _RESPONSE_FORM = next(f for f in forms if f.id == "xinfeng-parking-survey")
    ws = workspace()
    path = ws.root / "responses.csv"
    path.write_bytes(data)
    responses = read_responses(_RESPONSE_FORM, path, "responses.csv")
    _issues_ok(responses.issues)
    aggregate(_RESPONSE_FORM, responses.rows, dt.date(2026, 12, 6))


_APP = None


def _intake_app():
    global _APP
    if _APP is None:
        from test_intake_support import PORTAL, write_forms

        from generator.forms.definitions import load_forms
        from generator.intake.app import IntakeSettings, create_app

        ws = workspace()
        forms_root = ws.root / "intake"
        write_forms(forms_root / "data")
        forms = {f.id: f for f in load_forms(forms_root / "data")[0]}
        settings = IntakeSettings(db=ws.root / "intake.sqlite3", forms=forms, site_url=PORTAL,
                                  rate_per_minute=10**9, burst=10**9, max_body_bytes=16 * 1024)
        from generator.intake.storage import initialise

        initialise(settings.db)
        _APP = create_app(settings)
    return _APP


async def _asgi(app, item: HttpInput) -> tuple[int, bytes]:
    headers = [(b"host", b"intake.test"), (b"content-type", item.content_type.encode("latin-1", "replace")),
               (b"accept", item.accept.encode()), (b"content-length", str(len(item.body)).encode())]
    if item.origin:
        headers.append((b"origin", item.origin.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/f/t-open", "raw_path": b"/f/t-open", "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    size = max(1, len(item.body) // item.chunks + 1)
    pieces = [item.body[i:i + size] for i in range(0, len(item.body), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


_LOOP: asyncio.AbstractEventLoop | None = None
_LIFESPAN = None


def intake_body(item: HttpInput) -> None:
    global _LOOP, _LIFESPAN
    app = _intake_app()
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        _LIFESPAN = app.router.lifespan_context(app)
        _LOOP.run_until_complete(_LIFESPAN.__aenter__())
    status, body = _LOOP.run_until_complete(_asgi(app, item))
    if status >= 500 and status != 503:
        raise Crash(f"HTTP {status}: {body[:300]!r}")
    if status >= 400:
        _chinese(body.decode("utf-8", "replace"), f"HTTP {status} answer")


def close_intake() -> None:
    global _LOOP, _LIFESPAN, _APP
    if _LOOP is not None and _LIFESPAN is not None:
        _LOOP.run_until_complete(_LIFESPAN.__aexit__(None, None, None))
        _LOOP.close()
    _LOOP = _LIFESPAN = _APP = None


_RAW_SERVER = None
REQUEST_LINES = [b"POST /f/t-open HTTP/1.1", b"GET /healthz HTTP/1.1", b"OPTIONS /f/t-open HTTP/1.1",
                 b"GET /staff/forms/t-open/responses.csv HTTP/1.1", b"POST /f/t-open HTTP/1.0", b"PUT / HTTP/1.1",
                 b"POST /f/t-open?x=%ff HTTP/1.1", b"GET /../../etc/passwd HTTP/1.1", b"POST * HTTP/1.1"]


def gen_raw_http(rng: random.Random) -> bytes:
    """A whole HTTP request as bytes: request line, headers and a body, often malformed."""
    item = gen_http(rng)
    headers = [b"Host: intake.test", b"Content-Type: " + item.content_type.encode("latin-1", "replace"),
               b"Accept: " + item.accept.encode()]
    roll = rng.random()
    if roll < 0.6:
        headers.append(b"Content-Length: %d" % len(item.body))
        body = item.body
    elif roll < 0.8:
        headers.append(b"Transfer-Encoding: chunked")
        size = rng.randint(1, 64)
        body = b"".join(b"%x\r\n%s\r\n" % (len(item.body[i:i + size]), item.body[i:i + size])
                        for i in range(0, len(item.body), size)) + b"0\r\n\r\n"
    else:
        headers.append(rng.choice([b"Content-Length: -1", b"Content-Length: 99999999999999999999",
                                   b"Content-Length: 1, 2", b"Transfer-Encoding: gzip, chunked",
                                   b"Content-Length: 5\r\nContent-Length: 6", b"X: \x00\x01", b": empty",
                                   b"Authorization: Bearer gzs_00000000_" + b"a" * 43, b"X-Forwarded-For: ::1, 10.0.0.1"]))
        body = item.body
    if item.origin:
        headers.append(b"Origin: " + item.origin.encode())
    request = rng.choice(REQUEST_LINES) + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
    return damage(request, rng) if rng.random() < 0.3 else request


def intake_raw(data: bytes) -> None:
    """Raw bytes to the real ``gongzhi intake serve`` on 127.0.0.1: never a 500, never down."""
    import socket

    global _RAW_SERVER
    if _RAW_SERVER is None:
        from test_intake_support import Server, write_forms

        ws = workspace()
        write_forms(ws.root / "raw" / "data")
        _RAW_SERVER = Server(ws.root / "raw" / "data", ws.root / "raw.sqlite3", ws.root / "raw.log",
                             "--rate-limit", "1000000000", "--burst", "1000000000", "--no-access-log",
                             "--header-timeout", "2", "--body-timeout", "2").start()
    with socket.create_connection(("127.0.0.1", _RAW_SERVER.port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first: an answer may still be there
        answer = b""
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError as exc:
            raise Hang("no answer and no close within 5 s") from exc
        except ConnectionResetError:
            pass
    for status in re.findall(rb"HTTP/1\.[01] (\d{3})", answer):
        if status.startswith(b"5") and status != b"503":
            raise Crash(f"HTTP {status.decode()}: {answer[:300]!r}")
    if _RAW_SERVER.process.poll() is not None:
        raise Crash(f"the server exited: {_RAW_SERVER.log()[-2000:]}")


def close_raw_server() -> None:
    global _RAW_SERVER
    if _RAW_SERVER is not None:
        _RAW_SERVER.stop()
        _RAW_SERVER = None


def _cli(argv: list[str]) -> None:
    """``gongzhi …`` in this process: exit code 0, 1 or 2, no traceback, a Chinese reason for 2."""
    from generator.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exc:
        code = exc.code
    if code not in (0, 1, 2):
        raise Crash(f"exit code {code}: {err.getvalue()[-1000:]}")
    if "Traceback" in err.getvalue():
        raise Crash(err.getvalue()[-2000:])
    if code == 2:
        _chinese(err.getvalue(), "exit 2 message")


def cli_validate(data: bytes) -> None:
    ws = workspace()
    with ws.holding(ws.community, data):
        _cli(["validate", str(ws.data), "--format", "json"])


def cli_stats(data: bytes) -> None:
    """``gongzhi stats`` reads case files the validator has not passed: it must still end well."""
    ws = workspace()
    with ws.holding(ws.case_file, data):
        _cli(["stats", "--data", str(ws.data), "--level", "grid", "--format", "json"])


def cli_ingest(data: bytes) -> None:
    ws = workspace()
    path = ws.root / "ingest.csv"
    path.write_bytes(data)
    _cli(["forms", "ingest", "xinfeng-parking-survey", str(path), "--data", str(REPO / "data"),
          "--out", str(ws.root / "ingest-results.json"), "--today", "2026-12-06", "--format", "json"])


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable
    generate: Callable[[random.Random], object]


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("entity_yaml", entity_yaml, lambda rng: gen_yaml(rng, "entity")),
    Target("validate", validate, lambda rng: gen_yaml(rng, "entity")),
    Target("form_yaml", form_yaml, lambda rng: gen_yaml(rng, "form")),
    Target("case_csv", case_csv, lambda rng: gen_csv(rng, "cases")),
    Target("responses_csv", responses_csv, lambda rng: gen_csv(rng, "responses")),
    Target("intake_body", intake_body, gen_http),
    Target("cli_validate", cli_validate, lambda rng: gen_yaml(rng, "entity")),
    Target("intake_raw", intake_raw, gen_raw_http),
    Target("cli_stats", cli_stats, lambda rng: gen_csv(rng, "cases")),
    Target("cli_ingest", cli_ingest, lambda rng: gen_csv(rng, "responses")),
)}


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``Hang`` in this (main) thread after ``seconds``."""

    def expired(signum, frame):
        raise Hang(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def guarded(target: Target, item: object, seconds: float = 20.0) -> None:
    """Run ``target`` on ``item``: ``Crash`` for anything but a proper ending (tracebacks kept)."""
    try:
        with time_limit(seconds):
            target.run(item)
    except Crash:
        raise
    except RecursionError as exc:
        raise Crash(f"RecursionError: {exc}") from exc
    except Exception as exc:
        raise Crash(f"{type(exc).__name__}: {exc}"[:500]) from exc


def describe(item: object) -> str:
    if isinstance(item, bytes):
        return repr(item[:300]) + (f"… ({len(item)} bytes)" if len(item) > 300 else "")
    return repr(item)[:400]


# python-multipart says "Found invalid character …" at WARNING for every broken body; the
# service turns those bodies into a 400 and its own log config keeps these quiet too.
logging.getLogger("python_multipart").setLevel(logging.ERROR)
