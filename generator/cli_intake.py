"""``gongzhi intake``: run the form intake service and manage what it holds.

gongzhi intake serve [--db PATH] [--host 127.0.0.1] [--port N] [--data DIR] [--site-url URL]
gongzhi intake export FORM_ID --out FILE.csv [--db PATH]
gongzhi intake purge [--db PATH] [--dry-run]
gongzhi intake token create --name NAME | revoke ID | list
gongzhi intake audit [--limit N]
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import socket
import sqlite3
import sys
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK

DEFAULT_DB = ".gongzhi/intake.sqlite3"
DEFAULT_PORT = 8787  # the port data/forms/_settings.yaml points local previews at
DEV_SITE_URL = "http://127.0.0.1:8000/"


def register(subparsers: argparse._SubParsersAction) -> None:
    intake = subparsers.add_parser(
        "intake",
        help="表单回收服务：接收提交、导出、按期删除",
        description="表单回收服务：接收门户网站参与表单的提交（SQLite 存储），供工作人员导出，按保存期限删除。",
    )
    commands = intake.add_subparsers(dest="intake_command", metavar="子命令")
    intake.set_defaults(handler=lambda args: _help(intake))

    def db_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--db",
            type=Path,
            default=Path(os.environ.get("GONGZHI_INTAKE_DB", DEFAULT_DB)),
            help=f"SQLite 数据库文件（默认 $GONGZHI_INTAKE_DB 或 {DEFAULT_DB}）",
        )

    def data_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data",
            type=Path,
            default=Path("data"),
            help="数据文件夹（默认 data，表单定义在 data/forms/）",
        )

    serve = commands.add_parser(
        "serve",
        help="启动回收服务",
        description="启动表单回收服务（uvicorn，单进程，SQLite WAL）。",
    )
    db_option(serve)
    data_option(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1；对外请经 nginx 反向代理）"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"端口（默认 {DEFAULT_PORT}）"
    )
    serve.add_argument(
        "--site-url", help="门户网站地址：感谢页面和允许的来源（默认取 mkdocs.yml 的 site_url）"
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="另外允许的来源（可重复）",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP/网段",
        help="可信反向代理；只信任它转发的 X-Forwarded-For（可重复）",
    )
    serve.add_argument(
        "--max-body-kb", type=int, default=64, help="单次提交大小上限，KB（默认 64）"
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=30.0,
        metavar="每分钟",
        help="每个来源地址每分钟可提交次数（默认 30）",
    )
    serve.add_argument(
        "--burst",
        type=int,
        default=30,
        help="短时间内可连续提交的次数（默认 30：同一 Wi-Fi 的会场）",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help="同时打开的连接上限：超出的新连接立即关闭，同时处理的请求超出即答 503（默认 1000）",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="秒",
        help="请求行和请求头须在这么多秒内传完，否则答 408 并断开（防慢速攻击，默认 10）",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=20.0,
        metavar="秒",
        help="提交内容须在这么多秒内传完，否则答 408 并断开（默认 20）",
    )
    serve.add_argument("--no-access-log", action="store_true", help="不记录访问日志")
    serve.set_defaults(handler=_serve)

    export = commands.add_parser(
        "export",
        help="导出一个表单的提交（CSV）",
        description="导出一个表单的全部提交，即 gongzhi forms ingest 读取的 CSV；写入审计日志。",
    )
    export.add_argument("form_id", metavar="FORM_ID")
    export.add_argument("--out", type=Path, required=True, help="输出 CSV 文件")
    db_option(export)
    data_option(export)
    export.set_defaults(handler=_export)

    purge = commands.add_parser(
        "purge",
        help="删除超过保存期限的提交",
        description="按每个表单声明的保存期限（privacy.retention_days）删除过期提交；写入审计日志。",
    )
    db_option(purge)
    data_option(purge)
    purge.add_argument("--dry-run", action="store_true", help="只统计将删除多少，不删除")
    purge.add_argument(
        "--forget-unknown",
        type=int,
        metavar="天",
        help="已不存在的表单的提交，保存超过这么多天也删除",
    )
    purge.set_defaults(handler=_purge)

    token = commands.add_parser(
        "token",
        help="工作人员凭证（HTTP 导出用）",
        description="管理工作人员凭证。凭证只显示一次，数据库只保存其加盐散列。",
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="操作")
    token.set_defaults(handler=lambda args: _help(token))
    create = token_commands.add_parser("create", help="新建凭证")
    create.add_argument("--name", required=True, help="持有人或用途，如“新丰社区 张老师”")
    db_option(create)
    create.set_defaults(handler=_token_create)
    revoke = token_commands.add_parser("revoke", help="吊销凭证")
    revoke.add_argument("token_id", metavar="ID", help="凭证编号（token list 中的 8 位编号）")
    db_option(revoke)
    revoke.set_defaults(handler=_token_revoke)
    listing = token_commands.add_parser("list", help="列出凭证")
    db_option(listing)
    listing.set_defaults(handler=_token_list)

    audit = commands.add_parser(
        "audit", help="查看审计日志", description="查看导出、删除和凭证操作的审计日志（最新在前）。"
    )
    db_option(audit)
    audit.add_argument("--limit", type=int, default=50, help="显示条数（默认 50）")
    audit.set_defaults(handler=_audit)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_CANNOT_RUN


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def _load_forms(data_dir: Path) -> dict | None:
    from generator.intake.formsbridge import FormsUnavailable, load_forms

    if not (data_dir / "forms").is_dir():
        _err(f"找不到表单定义文件夹 {data_dir / 'forms'}（提示：用 --data 指定数据文件夹）")
        return None
    try:
        return load_forms(data_dir)
    except FormsUnavailable as exc:
        _err(f"表单定义未通过校验，无法继续：{exc}")
        for issue in exc.issues[:50]:
            _err("  " + issue.to_text())
        if len(exc.issues) > 50:
            _err(f"  ……另有 {len(exc.issues) - 50} 个问题，运行 gongzhi validate 查看全部")
        return None


def _site_url_from_mkdocs() -> str | None:
    path = Path("mkdocs.yml")
    if not path.is_file():
        return None
    match = re.search(r"^site_url:\s*['\"]?([^'\"\s#]+)", path.read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else None


def _serve(args: argparse.Namespace) -> int:
    from generator.intake.app import IntakeSettings
    from generator.intake.security import origin_of, parse_networks
    from generator.intake.server import build_server
    from generator.intake.storage import StorageError, initialise

    site_url = args.site_url or _site_url_from_mkdocs() or DEV_SITE_URL
    if origin_of(site_url) is None:
        _err(f"--site-url 须为 http(s) 网址，如 https://gongzhi.example.gov.cn/（现为 {site_url}）")
        return EXIT_CANNOT_RUN
    for extra in args.allow_origin:
        if origin_of(extra) is None:
            _err(f"--allow-origin 须为 http(s) 网址（现为 {extra}）")
            return EXIT_CANNOT_RUN
    try:
        proxies = parse_networks(args.trusted_proxy)
    except ValueError as exc:
        _err(f"--trusted-proxy：{exc}")
        return EXIT_CANNOT_RUN
    if (args.max_body_kb < 1 or args.rate_limit <= 0 or args.burst < 1 or args.max_connections < 1
            or not args.header_timeout > 0 or not args.body_timeout > 0):
        _err("--max-body-kb、--rate-limit、--burst、--max-connections、--header-timeout、--body-timeout 须为正数")
        return EXIT_CANNOT_RUN
    forms = _load_forms(args.data)
    if forms is None:
        return EXIT_INVALID
    try:
        initialise(args.db)
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    settings = IntakeSettings(
        db=args.db,
        forms=forms,
        site_url=site_url,
        extra_origins=args.allow_origin,
        trusted_proxies=proxies,
        max_body_bytes=args.max_body_kb * 1024,
        rate_per_minute=args.rate_limit,
        burst=args.burst,
        body_timeout=args.body_timeout,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        sock.close()
        _err(
            f"无法监听 {args.host}:{args.port}：{exc.strerror or exc}（提示：端口可能已被占用，用 --port 换一个）"
        )
        return EXIT_CANNOT_RUN
    sock.set_inheritable(True)
    server = build_server(
        settings,
        args.host,
        args.port,
        access_log=not args.no_access_log,
        limit_concurrency=args.max_connections,
        header_timeout=args.header_timeout,
    )
    print(
        f"表单回收服务：http://{args.host}:{args.port}/（{len(forms)} 个表单，数据库 {args.db}，"
        f"门户 {site_url}）。按 Ctrl+C 停止。",
        file=sys.stderr,
        flush=True,
    )
    server.run(sockets=[sock])
    return EXIT_OK if server.started else EXIT_CANNOT_RUN


def _export(args: argparse.Namespace) -> int:
    from generator.intake.export import ExportSnapshot, write_export
    from generator.intake.storage import StorageError, connect, initialise, write_audit

    forms = _load_forms(args.data)
    if forms is None:
        return EXIT_INVALID
    form = forms.get(args.form_id)
    if form is None:
        known = "、".join(sorted(forms)) or "（无）"
        _err(f"没有编号为“{args.form_id}”的表单。现有表单：{known}")
        return EXIT_INVALID
    if not args.db.is_file():
        _err(f"找不到数据库 {args.db}（提示：用 --db 指定回收服务的数据库）")
        return EXIT_CANNOT_RUN
    try:
        initialise(args.db)
        conn = connect(args.db)
        audit = connect(args.db)  # its own connection: the snapshot's stays read-only
        try:
            with ExportSnapshot(conn, form) as snapshot:
                rows = snapshot.rows
                write_audit(audit, _actor(), "export", form.id, rows, f"命令行 → {args.out.name}")
                write_export(snapshot, args.out)
        finally:
            conn.close()
            audit.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    print(f"已导出“{form.title}”的 {rows} 条提交到 {args.out}（已记入审计日志）")
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    from generator.intake.purge import purge
    from generator.intake.storage import StorageError, connect, initialise

    forms = _load_forms(args.data)
    if forms is None:
        return EXIT_INVALID
    if not args.db.is_file():
        _err(f"找不到数据库 {args.db}（提示：用 --db 指定回收服务的数据库）")
        return EXIT_CANNOT_RUN
    try:
        initialise(args.db)
        conn = connect(args.db)
        try:
            report = purge(
                conn,
                forms,
                _actor(),
                dry_run=args.dry_run,
                unknown_retention_days=args.forget_unknown,
            )
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    verb = "将删除" if args.dry_run else "已删除"
    for item in report.forms:
        if item.deleted or args.dry_run:
            print(f"{item.form_id}：{verb} {item.deleted} 条（保存期限 {item.retention_days} 天）")
    for form_id, kept in sorted(report.unknown.items()):
        _err(
            f"警告：表单“{form_id}”已不在 data/forms/ 中，其 {kept} 条提交未删除（提示：确认后用 --forget-unknown 天数 删除）"
        )
    print(
        f"合计{verb} {report.deleted} 条。" + ("（试运行，未删除任何数据）" if args.dry_run else "")
    )
    return EXIT_OK


def _open_db(path: Path):
    from generator.intake.storage import connect, initialise

    initialise(path)
    return connect(path)


def _token_create(args: argparse.Namespace) -> int:
    from generator.intake.security import create_token
    from generator.intake.storage import StorageError

    name = args.name.strip()
    if not name:
        _err("--name 不能为空")
        return EXIT_INVALID
    try:
        conn = _open_db(args.db)
        try:
            record, token = create_token(conn, name, _actor())
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    print(token)
    _err(
        f"已新建凭证 {record.id}（{record.name}）。上面一行是凭证本身，只显示这一次，请妥善转交；"
        f"数据库只保存其散列。吊销：gongzhi intake token revoke {record.id}"
    )
    return EXIT_OK


def _token_revoke(args: argparse.Namespace) -> int:
    from generator.intake.security import revoke_token
    from generator.intake.storage import StorageError

    try:
        conn = _open_db(args.db)
        try:
            changed = revoke_token(conn, args.token_id, _actor())
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    if not changed:
        _err(f"没有编号为“{args.token_id}”的有效凭证（提示：gongzhi intake token list 查看）")
        return EXIT_INVALID
    print(f"已吊销凭证 {args.token_id}")
    return EXIT_OK


def _token_list(args: argparse.Namespace) -> int:
    from generator.intake.security import list_tokens
    from generator.intake.storage import StorageError

    try:
        conn = _open_db(args.db)
        try:
            tokens = list_tokens(conn)
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    if not tokens:
        print("还没有凭证。新建：gongzhi intake token create --name 持有人")
    for token in tokens:
        state = f"已吊销（{token.revoked_at}）" if token.revoked_at else "有效"
        print(f"{token.id}  {token.name}  创建于 {token.created_at}  {state}")
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from generator.intake.storage import StorageError, read_audit

    if not args.db.is_file():
        _err(f"找不到数据库 {args.db}")
        return EXIT_CANNOT_RUN
    try:
        conn = _open_db(args.db)
        try:
            entries = read_audit(conn, args.limit)
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    names = {
        "export": "导出",
        "purge": "删除",
        "token-create": "新建凭证",
        "token-revoke": "吊销凭证",
    }
    for entry in entries:
        what = names.get(entry.action, entry.action)
        form = f" 表单 {entry.form_id}" if entry.form_id else ""
        rows = f" {entry.row_count} 条" if entry.row_count is not None else ""
        detail = f"（{entry.detail}）" if entry.detail else ""
        print(f"{entry.at}  {entry.actor}  {what}{form}{rows}{detail}")
    if not entries:
        print("审计日志为空。")
    return EXIT_OK
