"""The `gongzhi` dispatcher: every subcommand is registered, usage errors and help are Chinese."""

from __future__ import annotations

import pytest

from generator.cli import EXIT_CANNOT_RUN, main

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
