"""The `gongzhi` dispatcher: every subcommand is registered, usage errors and help are Chinese."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import EXIT_CANNOT_RUN, main

ROOT = Path(__file__).resolve().parent.parent

SUBCOMMANDS = ["validate", "docs", "build", "serve", "index", "synth", "stats", "report", "forms", "intake"]


def test_every_subcommand_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：")
    for name in SUBCOMMANDS:
        assert f"    {name} " in out or f"    {name}\n" in out, name


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["stats", "--level", "nope"], "参数 --level: 取值无效"),
        (["validate", "--format", "xml"], "取值无效"),
        (["forms", "ingest"], "缺少必填参数"),
        (["validate", "--no-such-flag"], "无法识别的参数"),
    ],
)
def test_usage_errors_are_chinese_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_CANNOT_RUN
    err = capsys.readouterr().err
    assert expected in err
    assert "error:" not in err and "usage:" not in err


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_CANNOT_RUN
    assert "用法：" in capsys.readouterr().out


def test_a_first_build_prints_its_result_and_no_warning(tmp_path: Path) -> None:
    """The README's main job as a newcomer runs it: a fresh process, no matplotlib font cache,
    no chart cache, Python's warnings switched on. stdout is the one result line; stderr is empty."""
    shutil.copytree(ROOT / "data", tmp_path / "data")
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "build", "--data", str(tmp_path / "data"),
         "--out", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("网站已生成")
    assert (tmp_path / "site" / "pagefind" / "pagefind.js").is_file()


def test_a_build_that_fails_ends_its_process_with_the_message_and_the_code(tmp_path: Path) -> None:
    """``gongzhi build`` ends its process at once (``cli.leave``): what it printed still
    arrives whole, with the exit code, and no site is left half written."""
    from generator.cli import EXIT_INVALID

    shutil.copytree(ROOT / "data", tmp_path / "data")
    district = tmp_path / "data" / "district.yaml"
    district.write_text(district.read_text("utf-8").replace("\nname: ", "\nname:\n  - ", 1), "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "build", "--data", str(tmp_path / "data"),
         "--out", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == EXIT_INVALID, done.stderr
    assert done.stderr.rstrip().endswith("数据有错误，未生成网站；原网站保持不变。")
    assert "district.yaml" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "site").exists()
