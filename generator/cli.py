"""The ``gongzhi`` command. The only module that prints and chooses exit codes.

Subcommands are contributed by ``generator/cli_*.py`` modules, each exposing
``register(subparsers)``; a subcommand's handler receives the parsed arguments and returns
the exit code: 0 success, 1 the data or input is invalid, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from typing import NoReturn

import generator

EXIT_OK, EXIT_INVALID, EXIT_CANNOT_RUN = 0, 1, 2


# argparse's own messages, in the words people see elsewhere in the tool.
_ARGPARSE_PHRASES = (
    ("the following arguments are required", "缺少必填参数"),
    ("unrecognized arguments", "无法识别的参数"),
    ("invalid choice", "取值无效"),
    ("choose from", "可选"),
    ("expected one argument", "需要一个值"),
    ("invalid int value", "不是整数"),
    ("invalid float value", "不是数字"),
    ("argument ", "参数 "),
    ("not allowed with argument", "不能与此参数同用"),
)


class ChineseArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose help and usage errors are Chinese (subcommand parsers inherit it)."""

    def __init__(self, *args, add_help: bool = True, **kwargs) -> None:
        super().__init__(*args, add_help=False, **kwargs)
        if add_help:
            self.add_argument("-h", "--help", action="help", help="显示帮助并退出")

    def error(self, message: str) -> None:  # type: ignore[override]
        for english, chinese in _ARGPARSE_PHRASES:
            message = message.replace(english, chinese)
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}：{message}（用 {self.prog} --help 查看用法）\n")

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "用法：", 1)

    def format_help(self) -> str:
        text = super().format_help().replace("usage:", "用法：", 1)
        return text.replace("\npositional arguments:", "\n位置参数：").replace("\noptions:", "\n选项：")


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(
        prog="gongzhi",
        description="共治：由 data/ 中的数据生成社区共建共治共享公开门户。",
    )
    parser.add_argument(
        "--version", action="version", version=f"gongzhi {generator.__version__}", help="显示版本并退出"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="命令")
    for info in sorted(pkgutil.iter_modules(generator.__path__), key=lambda m: m.name):
        if info.name.startswith("cli_"):
            importlib.import_module(f"generator.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_CANNOT_RUN
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as exc:  # a file that cannot be read or written: say which, never a traceback
        print(f"无法运行：{exc.strerror or exc}（{exc.filename or ''}）", file=sys.stderr)
        return EXIT_CANNOT_RUN


# Commands after which the process ends without Python's teardown (``run``)
QUICK_EXIT = frozenset({"build", "assemble"})


def run() -> None:
    """The ``gongzhi`` command: ``main``, then the process ends. After a build it ends at
    once (``leave``): at the province tier Python's teardown, freeing the build's objects one
    by one and a last collection over them, took 7 s after the site was in place."""
    argv = sys.argv[1:]
    code = main(argv)
    if next((arg for arg in argv if not arg.startswith("-")), None) in QUICK_EXIT:
        leave(code)
    sys.exit(code)


def leave(code: int) -> NoReturn:
    """End the process now, its output flushed (what it wrote is in place: files are closed,
    the old site's removal runs in its own process)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
