"""``gongzhi validate`` and ``gongzhi docs``: check the data folder; regenerate or check the reference pages."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK
from generator.issues import Issue, Severity

SEVERITY_WORDS = {Severity.ERROR: "错误", Severity.WARNING: "警告"}


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="校验数据文件夹，列出所有问题",
        description="校验数据文件夹中的全部 YAML、CSV 和 Parquet 文件，先收集所有问题再给出结论。"
        "退出码：0 通过，1 有错误（--strict 时警告也算），2 无法运行。",
    )
    validate.add_argument("path", nargs="?", default="data", help="数据文件夹（默认 data）")
    validate.add_argument(
        "--format",
        choices=("text", "json", "github", "gitlab"),
        default="text",
        help="输出格式：text 中文分组列表；json 机器可读；github 拉取请求中的行内标注；"
        "gitlab 合并请求的代码质量报告（GitLab Code Quality，标在改动的行上）",
    )
    validate.add_argument("--strict", action="store_true", help="警告也视为不通过")
    validate.add_argument(
        "--no-cases", action="store_true", help="跳过事件记录（CSV/Parquet）的检查，只查 YAML"
    )
    validate.set_defaults(handler=run_validate)

    docs = subparsers.add_parser(
        "docs",
        help="由数据契约和错误目录生成数据字典与错误说明页",
        description="重新生成 content/editors/dictionary.md 和 content/editors/errors.md；"
        "加 --check 只检查它们是否过期（过期时退出码为 1）。",
    )
    docs.add_argument(
        "--data", default="data", help="数据文件夹（默认 data），读取其中的 datapackage.yaml"
    )
    docs.add_argument("--out", default="content/editors", help="输出文件夹（默认 content/editors）")
    docs.add_argument("--check", action="store_true", help="只检查页面是否与代码一致，不写文件")
    docs.set_defaults(handler=run_docs)


# ---------------------------------------------------------------------------- output


def summary_line(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "校验通过：没有发现问题。"
    return f"{errors} 个错误，{warnings} 个警告"


def format_text(issues: list[Issue], *, strict: bool = False) -> str:
    lines: list[str] = []
    current = None
    for issue in issues:
        if issue.file != current:
            if current is not None:
                lines.append("")
            lines.append(issue.file)
            current = issue.file
        where = (
            ""
            if issue.line is None
            else f"{issue.line}" + (f":{issue.column}" if issue.column else "")
        )
        key = f" {issue.key}" if issue.key else ""
        hint = f"\n      提示：{issue.hint}" if issue.hint else ""
        lines.append(
            f"  {where or '-'}{key}  {SEVERITY_WORDS[issue.severity]}：{issue.message} [{issue.code}]{hint}"
        )
    errors = sum(1 for i in issues if i.severity is Severity.ERROR)
    warnings = len(issues) - errors
    if lines:
        lines.append("")
    line = summary_line(errors, warnings)
    if warnings and not errors and not strict:
        line += "（警告不影响通过；加 --strict 时警告也算不通过）"
    lines.append(line)
    return "\n".join(lines)


def format_json(issues: list[Issue], *, strict: bool = False) -> str:
    errors = sum(1 for i in issues if i.severity is Severity.ERROR)
    warnings = len(issues) - errors
    valid = errors == 0 and not (strict and warnings)
    document = {
        "valid": valid,
        "summary": {"errors": errors, "warnings": warnings, "text": summary_line(errors, warnings)},
        "issues": [issue.to_dict() for issue in issues],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(issues: list[Issue], *, strict: bool = False) -> str:
    """GitHub Actions workflow commands: one annotation per issue, then the summary."""
    lines = []
    for issue in issues:
        command = "error" if issue.severity is Severity.ERROR or strict else "warning"
        props = [f"file={_escape_property(issue.file)}"]
        if issue.line is not None:
            props.append(f"line={issue.line}")
            if issue.column is not None:
                props.append(f"col={issue.column}")
        props.append(f"title={_escape_property(issue.code)}")
        key = f"{issue.key}：" if issue.key else ""
        hint = f"（提示：{issue.hint}）" if issue.hint else ""
        lines.append(f"::{command} {','.join(props)}::{_escape_data(key + issue.message + hint)}")
    errors = sum(1 for i in issues if i.severity is Severity.ERROR)
    lines.append(summary_line(errors, len(issues) - errors))
    return "\n".join(lines)


def format_gitlab(issues: list[Issue], *, strict: bool = False) -> str:
    """GitLab's Code Quality report (a CodeClimate JSON list): GitLab shows each entry on the
    changed line of a merge request. The fingerprint is stable across runs for the same issue."""
    entries = []
    for issue in issues:
        key = f"{issue.key}：" if issue.key else ""
        hint = f"（提示：{issue.hint}）" if issue.hint else ""
        identity = "\0".join([issue.code, issue.file, issue.key, issue.message])
        entries.append({
            "description": key + issue.message + hint,
            "check_name": issue.code,
            "fingerprint": hashlib.sha256(identity.encode("utf-8")).hexdigest(),
            "severity": "major" if issue.severity is Severity.ERROR or strict else "minor",
            "location": {"path": issue.file, "lines": {"begin": issue.line or 1}},
        })
    return json.dumps(entries, ensure_ascii=False, indent=2)


FORMATTERS = {"text": format_text, "json": format_json, "github": format_github, "gitlab": format_gitlab}


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("GONGZHI_DEBUG"):
        raise exc
    print(
        f"内部错误：{type(exc).__name__}: {exc}。这是 gongzhi 的缺陷而不是数据的问题，"
        "请把这条信息报告给维护者（设置环境变量 GONGZHI_DEBUG=1 可看到详细信息）。",
        file=sys.stderr,
    )
    return EXIT_CANNOT_RUN


def run_validate(args: argparse.Namespace) -> int:
    from generator.validate import ContractError, check

    data_dir = Path(args.path)
    if not data_dir.is_dir():
        print(f"无法运行：找不到数据文件夹 {data_dir}。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        result = check(data_dir, cases=not args.no_cases)
    except ContractError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        return _internal_error(exc)
    _write(FORMATTERS[args.format](result.issues, strict=args.strict))
    return EXIT_OK if result.valid(strict=args.strict) else EXIT_INVALID


def run_docs(args: argparse.Namespace) -> int:
    from generator.refdocs import ContractError, write_reference_pages

    try:
        stale = write_reference_pages(Path(args.data), Path(args.out), check_only=args.check)
    except ContractError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except Exception as exc:  # noqa: BLE001
        return _internal_error(exc)
    if args.check:
        if stale:
            for path in stale:
                print(f"已过期：{path}（运行 gongzhi docs 重新生成）", file=sys.stderr)
            return EXIT_INVALID
        print("参考页面是最新的。")
        return EXIT_OK
    for path in stale:
        print(f"已更新：{path}")
    if not stale:
        print("参考页面已是最新，无需改动。")
    return EXIT_OK


def issues_text(issues: Iterable[Issue]) -> str:
    """Plain text of issues, for other commands that show validation results."""
    return format_text(list(issues))
