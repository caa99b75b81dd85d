"""The ``gongzhi`` command. The only module that prints and chooses exit codes.

Subcommands are contributed by ``generator/cli_*.py`` modules, each exposing
``register(subparsers)``; a subcommand's handler receives the parsed arguments and returns
the exit code: 0 success, 1 the data or input is invalid, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import generator

EXIT_OK, EXIT_INVALID, EXIT_CANNOT_RUN = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gongzhi", description="共治：由 data/ 中的数据生成社区共建共治共享公开门户。"
    )
    parser.add_argument("--version", action="version", version=f"gongzhi {generator.__version__}")
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


if __name__ == "__main__":
    sys.exit(main())
