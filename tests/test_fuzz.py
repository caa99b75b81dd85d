"""No input ends in a traceback, a hang or unbounded memory: a fast profile of the fuzz targets.

``tests/fuzzing.py`` holds the targets and generators; ``bench/bench_fuzz.py`` runs them for a
million inputs and ``bench/fuzz_atheris.py`` coverage-guided. Here each target gets a fixed,
reproducible set of generated inputs (hypothesis, derandomised) and raw bytes, and the known
attacks are spelled out: alias bombs, loops of anchors, deep nesting, huge scalars, every
encoding, NULs, ragged rows, Excel dates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from fuzzing import TARGETS, HttpInput, guarded, workspace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("GONGZHI_FUZZ_EXAMPLES", "40"))
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
BYTE_TARGETS = ["entity_yaml", "validate", "form_yaml", "case_csv", "responses_csv"]


@pytest.fixture(scope="module", autouse=True)
def _close_intake():
    yield
    from fuzzing import close_intake, close_raw_server

    close_intake()
    close_raw_server()


@pytest.mark.parametrize("name", [*BYTE_TARGETS, "intake_body", "intake_raw", "cli_stats", "cli_ingest"])
@FAST
@given(rng=st.randoms(use_true_random=False))
def test_generated_inputs_end_as_issues_or_chinese_refusals(name, rng):
    target = TARGETS[name]
    guarded(target, target.generate(rng), seconds=30)


@pytest.mark.parametrize("name", BYTE_TARGETS)
@FAST
@given(data=st.binary(max_size=4096))
def test_raw_bytes_end_as_issues(name, data):
    guarded(TARGETS[name], data, seconds=30)


@FAST
@given(body=st.binary(max_size=2048), ctype=st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "multipart/form-data", "text/plain"]), chunks=st.integers(1, 5))
def test_raw_http_bodies_end_as_chinese_answers(body, ctype, chunks):
    guarded(TARGETS["intake_body"], HttpInput(ctype, body, chunks), seconds=30)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefghi", "bcdefghij", strict=True))


@pytest.mark.parametrize("text, code", [
    (BOMB, "yaml-aliases"),
    ("a: &a [*a]\n", "yaml-aliases"),
    ("name: &n {x: *n}\n", "yaml-aliases"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", "yaml-syntax"),
    ("".join(" " * i + "k:\n" for i in range(1500)), "yaml-syntax"),
])
def test_alias_bombs_loops_and_nesting_are_issues_in_time(text, code):
    from generator.layout import ENTITY_SOURCES
    from generator.load import Flattener, FoundFile, read_entity_file

    ws = workspace()
    ws.community.write_text(text, "utf-8")
    started = time.monotonic()
    try:
        source = next(s for s in ENTITY_SOURCES if s.folder == "communities")
        _, issues = read_entity_file(FoundFile(ws.community, source, "xinfeng"), "x.yaml",
                                     Flattener(ws.contract.field_names()))
    finally:
        ws.restore()
    assert time.monotonic() - started < 2
    assert [i.code for i in issues] == [code]


@pytest.mark.parametrize("text", [BOMB, "a: &a [*a]\n", "x: " + "[" * 5000 + "]" * 5000 + "\n",
                                  "opens: !!timestamp 2026-13-01\n", "id: x\n" + "y" * 3_000_000 + ": 1\n"])
def test_form_definitions_refuse_the_same(text):
    from generator.forms.definitions import read_form

    ws = workspace()
    path = ws.data / "forms" / "bomb.yaml"
    path.write_text(text, "utf-8")
    started = time.monotonic()
    try:
        form, issues = read_form(path, "data/forms/bomb.yaml", "https://intake.example.gov.cn")
    finally:
        ws.restore()
    assert time.monotonic() - started < 3
    assert form is None and issues and all("YAML" in i.message or "锚点" in i.message or "字段" in i.message
                                           or "缺少" in i.message for i in issues), issues


@pytest.mark.parametrize("encoding", ["gbk", "utf-16", "utf-32", "latin-1", "big5", "gb18030"])
def test_every_encoding_is_an_issue_not_a_traceback(encoding):
    text = "name: 新丰社区\nstreet: linping\n"
    for name in ("entity_yaml", "form_yaml", "case_csv", "responses_csv"):
        guarded(TARGETS[name], text.encode(encoding, "replace"))


def test_the_validate_command_exits_1_on_a_bomb_and_2_when_it_cannot_run(tmp_path):
    ws = workspace()
    ws.community.write_text(BOMB, "utf-8")
    try:
        run = subprocess.run([sys.executable, "-m", "generator.cli", "validate", str(ws.data), "--format", "json"],
                             capture_output=True, text=True, timeout=120)
    finally:
        ws.restore()
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    codes = {i["code"] for i in json.loads(run.stdout)["issues"]}
    assert "yaml-aliases" in codes
    missing = subprocess.run([sys.executable, "-m", "generator.cli", "validate", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "找不到" in missing.stderr
