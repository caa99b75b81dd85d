"""``gongzhi admin config|vendor|serve``: the web editor (Decap CMS) at /admin/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    admin = subparsers.add_parser(
        "admin",
        help="网页编辑器（Decap CMS）：生成配置、下载、在本机运行",
        description="网站 /admin/ 的网页编辑器。config 由数据契约生成配置；vendor 下载固定版本的 "
        "Decap CMS；serve 在本机（127.0.0.1）直接编辑当前工作目录中的数据文件。",
    )
    actions = admin.add_subparsers(dest="action", required=True, metavar="{config,vendor,serve}")

    config = actions.add_parser(
        "config", help="由 data/datapackage.yaml 生成编辑器配置",
        description="由数据契约、数据文件布局和 mkdocs.yml 的 extra.editor 生成 Decap CMS 的配置。"
        "不加参数时输出到屏幕；--write 写入 admin/config.yml；--check 只检查该文件是否过期。",
    )
    config.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    config.add_argument("--config", default=None, help="MkDocs 配置文件（默认项目的 mkdocs.yml）")
    group = config.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="写入 admin/config.yml")
    group.add_argument("--check", action="store_true", help="只检查 admin/config.yml 是否与数据契约一致")
    config.set_defaults(handler=run_config)

    vendor = actions.add_parser("vendor", help="下载固定版本的 Decap CMS（scripts/setup 会运行）",
                                description="用 npm pack 下载 admin/package.json 固定的 Decap CMS，校验完整性，只保留浏览器用的文件。")
    vendor.add_argument("--force", action="store_true", help="已有文件也重新下载")
    vendor.set_defaults(handler=run_vendor)

    serve = actions.add_parser(
        "serve", help="在本机运行编辑器，直接修改工作目录中的数据文件",
        description="用 Decap 的本地后端（decap-server）在 127.0.0.1 上运行网页编辑器：保存即写入 data/ 下的文件，"
        "不开拉取请求；改完用 gongzhi validate 检查，再照常提交。",
    )
    serve.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    serve.add_argument("--port", type=int, default=8082, help="端口（默认 8082；0 表示任选一个空闲端口）")
    serve.add_argument("--config", default=None, help="MkDocs 配置文件（默认项目的 mkdocs.yml）")
    serve.set_defaults(handler=run_serve)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from generator.build import DEFAULT_CONFIG

    return Path(args.data), Path(args.config) if args.config else DEFAULT_CONFIG


def run_config(args: argparse.Namespace) -> int:
    from generator.admin import COMMITTED_CONFIG, AdminError, dump, project_config

    data, mkdocs_file = _paths(args)
    try:
        text = dump(project_config(data, mkdocs_file))
    except AdminError as exc:
        print(f"无法生成编辑器配置：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if args.check:
        current = COMMITTED_CONFIG.read_text(encoding="utf-8") if COMMITTED_CONFIG.is_file() else ""
        if current != text:
            print(f"{COMMITTED_CONFIG} 已过期：数据契约或数据布局变了，请运行 gongzhi admin config --write。",
                  file=sys.stderr)
            return EXIT_INVALID
        print(f"{COMMITTED_CONFIG} 与数据契约一致。")
        return EXIT_OK
    if args.write:
        COMMITTED_CONFIG.write_text(text, encoding="utf-8")
        print(f"已写入 {COMMITTED_CONFIG}")
        return EXIT_OK
    sys.stdout.write(text)
    return EXIT_OK


def run_vendor(args: argparse.Namespace) -> int:
    from generator.admin import AdminError, vendor

    try:
        vendor(force=args.force)
    except AdminError as exc:
        print(f"无法准备网页编辑器：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from generator.admin import AdminError, LocalEditor

    data, mkdocs_file = _paths(args)
    try:
        with LocalEditor(data, mkdocs_file, port=args.port) as editor:
            print(f"网页编辑器：{editor.url}（只在本机可用，按 Ctrl+C 停止）", flush=True)
            editor.wait()
    except AdminError as exc:
        print(f"无法运行网页编辑器：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        pass
    return EXIT_OK
