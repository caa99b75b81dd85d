"""Quarterly reports: files, scaffold, publish/freeze, 更正, checks and the report pages.

A report is ``data/reports/2026-Q3.yaml``: staff write the narrative; the figures come from the
case statistics. ``publish_report`` freezes the figures into ``2026-Q3.figures.json`` beside it
(with the computation time and a digest of the case files), so a later change to case records
does not change a published report. Publishing again after the data changed records a
correction (更正): what changed, old → new, and when. Drafts never appear on the site.

Nothing here prints; the CLI (``cli_stats``) turns results and ``ReportError`` into output.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import yaml

from generator.disclosure import protect_breakdown
from generator.issues import Issue, Severity, register
from generator.metrics import HEADLINE, METRICS, METRICS_BY_KEY, Level, Period
from generator.model import Dataset, Decision, Outcome, Project, ProjectStatus
from generator.pages import Asset, Deferred, Page, RenderContext
from generator.stats import (
    Kpi,
    KpiView,
    SiteStats,
    case_files_in,
    format_metric,
)

REPORTS_FOLDER = "reports"
FIGURES_SUFFIX = ".figures.json"
FIGURES_FORMAT = 1
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")

REPORT_INVALID = register(
    "report-invalid", Severity.ERROR, "季度报告文件的内容不符合要求",
    "按 gongzhi report new 生成的模板填写：period、title、status、summary、sections 等。",
)
REPORT_UNKNOWN_KEY = register(
    "report-unknown-key", Severity.ERROR, "季度报告中有不认识的键",
    "检查拼写；可用的键：period、title、status、published_on、sample_data、summary、sections、"
    "featured_decisions、featured_projects。",
)
REPORT_PERIOD_MISMATCH = register(
    "report-period-mismatch", Severity.ERROR, "季度报告的 period 与文件名不一致",
    "2026Q3 的报告应保存为 data/reports/2026-Q3.yaml，period 写 2026Q3。",
)
REPORT_UNKNOWN_REFERENCE = register(
    "report-unknown-reference", Severity.ERROR, "季度报告引用了不存在的决议或项目",
    "在 featured_decisions / featured_projects 中填写 data/meetings 与 data/projects 中已有的编号。",
)
REPORT_NOT_FROZEN = register(
    "report-not-frozen", Severity.ERROR, "已发布的季度报告缺少冻结的数字文件",
    "不要手工把 status 改为 published；请运行 gongzhi report publish 2026Q3。",
)
REPORT_FIGURES_BROKEN = register(
    "report-figures-broken", Severity.ERROR, "季度报告的冻结数字文件无法读取或已被改动",
    "冻结文件由 gongzhi report publish 生成，请勿手工编辑；用 git 恢复该文件后重新发布。",
)
REPORT_DRAFT_FROZEN = register(
    "report-draft-frozen", Severity.WARNING, "草稿状态的季度报告旁边有冻结数字文件",
    "报告已发布过却被改回草稿？如要撤回，请删除 .figures.json；否则把 status 改回 published。",
)
REPORT_UNEXPECTED_FILE = register(
    "report-unexpected-file", Severity.WARNING, "data/reports/ 中有不会被读取的文件",
    "季度报告文件名形如 2026-Q3.yaml；冻结数字文件形如 2026-Q3.figures.json。",
)

ALLOWED_KEYS = (
    "period", "title", "status", "published_on", "sample_data", "summary", "sections",
    "featured_decisions", "featured_projects",
)
_FILE_RE = re.compile(r"^(\d{4})-Q([1-4])\.yaml$")


class ReportError(Exception):
    """A report command could not be carried out; the message is Chinese and says why."""


class ReportStatus(str, Enum):  # noqa: UP042 - a str Enum like model.Label
    DRAFT = "draft"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return "草稿" if self is ReportStatus.DRAFT else "已发布"


@dataclass
class Section:
    heading: str
    body: str


@dataclass
class Correction:
    """One republish that changed figures: when, why, and every change old → new."""

    at: dt.datetime
    note: str
    changes: list[dict[str, str]]  # {scope, metric, old, new}
    case_digest: str


@dataclass
class Frozen:
    """The figures of a published report as computed when it was (re)published."""

    period: Period
    computed_at: dt.datetime  # first publication
    updated_at: dt.datetime  # latest correction (or computed_at)
    as_of: dt.datetime | None  # the case data's cut-off
    case_digest: str
    case_files: list[dict[str, Any]]
    figures: dict[str, Any]
    corrections: list[Correction] = field(default_factory=list)


@dataclass
class Report:
    period: Period
    title: str
    status: ReportStatus
    file: Path
    summary: str = ""
    sections: list[Section] = field(default_factory=list)
    featured_decisions: list[str] = field(default_factory=list)
    featured_projects: list[str] = field(default_factory=list)
    published_on: dt.date | None = None
    sample_data: bool = False
    frozen: Frozen | None = None

    @property
    def slug(self) -> str:
        return self.period.slug

    @property
    def figures_file(self) -> Path:
        return figures_path(self.file)


def report_path(data_dir: Path, period: Period) -> Path:
    return Path(data_dir) / REPORTS_FOLDER / f"{period.file_stem}.yaml"


def figures_path(report_file: Path) -> Path:
    return report_file.with_name(report_file.stem + FIGURES_SUFFIX)


# ----------------------------------------------------------------------------- reading


def _parse_period(text: Any) -> Period | None:
    try:
        period = Period.parse(str(text))
    except ValueError:
        return None
    return period if period.is_quarter else None


def _lines(node: yaml.Node | None) -> dict[str, int]:
    """Line (1-based) of each top-level key, and of list items as "key[i]"."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.SequenceNode):
                for i, item in enumerate(value_node.value):
                    lines[f"{key}[{i}]"] = item.start_mark.line + 1
    return lines


def read_report(path: Path, display: str | None = None) -> tuple[Report | None, list[Issue]]:
    """Read one report file (and its frozen figures); problems come back as issues."""
    from generator.load import load_document, parse_yaml

    file = display or path.as_posix()
    issues: list[Issue] = []
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        return None, [Issue.of(REPORT_INVALID, file, None, "", "文件不是 UTF-8 编码。", "用 UTF-8 编码保存。")]
    node, syntax = parse_yaml(text, file)
    if syntax:
        return None, syntax
    if not isinstance(node, yaml.MappingNode):
        return None, [Issue.of(REPORT_INVALID, file, 1, "", "季度报告应是“键: 值”形式的映射。")]
    lines = _lines(node)
    try:
        data = load_document(text)[1] or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Issue.of(REPORT_INVALID, file, mark.line + 1 if mark else None, "",
                               f"YAML 无法读取：{getattr(exc, 'problem', None) or exc}")]

    def problem(kind, key: str, message: str, hint: str | None = None) -> None:
        issues.append(Issue.of(kind, file, lines.get(key, lines.get(key.split("[")[0], 1)), key, message, hint))

    for key in data:
        if key not in ALLOWED_KEYS:
            from generator.load import did_you_mean

            guess = did_you_mean(str(key), ALLOWED_KEYS)
            problem(REPORT_UNKNOWN_KEY, str(key), f"不认识的键“{key}”。",
                    f"是不是“{guess}”？" if guess else None)
    for key in ("period", "title", "status"):
        if data.get(key) in (None, ""):
            problem(REPORT_INVALID, key, f"缺少必填的 {key}。")
    period = _parse_period(data.get("period")) if data.get("period") not in (None, "") else None
    if data.get("period") not in (None, "") and period is None:
        problem(REPORT_INVALID, "period", f"period“{data.get('period')}”不是季度，应写作 2026Q3。")
    match = _FILE_RE.match(path.name)
    if period is not None and (not match or Period(int(match.group(1)), int(match.group(2))) != period):
        problem(REPORT_PERIOD_MISMATCH, "period",
                f"period 是 {period.key}，文件名却是 {path.name}。",
                f"把文件改名为 {period.file_stem}.yaml，或更正 period。")
    status = None
    if data.get("status") not in (None, ""):
        try:
            status = ReportStatus(str(data["status"]).strip())
        except ValueError:
            problem(REPORT_INVALID, "status", f"status“{data['status']}”无效，只能是 draft（草稿）或 published（已发布）。")
    published_on = data.get("published_on")
    if published_on is not None and not isinstance(published_on, dt.date):
        problem(REPORT_INVALID, "published_on", f"published_on“{published_on}”不是日期，应写作 2026-07-15。")
        published_on = None
    sections: list[Section] = []
    raw_sections = data.get("sections") or []
    if not isinstance(raw_sections, list):
        problem(REPORT_INVALID, "sections", "sections 应是列表，每项有 heading 和 body。")
        raw_sections = []
    for i, item in enumerate(raw_sections):
        if not isinstance(item, dict) or not isinstance(item.get("heading"), str) or not str(item.get("heading")).strip():
            problem(REPORT_INVALID, f"sections[{i}]", f"第 {i + 1} 节缺少标题 heading。")
            continue
        extra = set(item) - {"heading", "body"}
        if extra:
            problem(REPORT_UNKNOWN_KEY, f"sections[{i}]", f"第 {i + 1} 节有不认识的键：{'、'.join(sorted(map(str, extra)))}。",
                    "每节只有 heading（标题）和 body（正文）。")
        sections.append(Section(str(item["heading"]).strip(), str(item.get("body") or "").strip()))
    lists: dict[str, list[str]] = {}
    for key in ("featured_decisions", "featured_projects"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problem(REPORT_INVALID, key, f"{key} 应是编号的列表，如 [xinfeng-2026-07-d1]。")
            value = []
        lists[key] = value
    summary = data.get("summary") or ""
    if not isinstance(summary, str):
        problem(REPORT_INVALID, "summary", "summary 应是一段文字。")
        summary = ""
    if issues or period is None or status is None:
        return None, issues
    report = Report(
        period, str(data["title"]).strip(), status, path, summary.strip(), sections,
        lists["featured_decisions"], lists["featured_projects"], published_on,
        bool(data.get("sample_data", False)),
    )
    figures = figures_path(path)
    figures_display = file[: -len(path.name)] + figures.name if file.endswith(path.name) else figures.as_posix()
    if figures.exists():
        try:
            report.frozen = read_frozen(figures)
        except ReportError as exc:
            issues.append(Issue.of(REPORT_FIGURES_BROKEN, figures_display, None, "", str(exc)))
        else:
            if report.frozen.period != period:
                issues.append(Issue.of(REPORT_FIGURES_BROKEN, figures_display, None, "period",
                                       f"冻结文件属于 {report.frozen.period.key}，不属于 {period.key}。"))
            if status is ReportStatus.DRAFT:
                problem(REPORT_DRAFT_FROZEN, "status", "报告是草稿，但已有冻结数字文件。")
    elif status is ReportStatus.PUBLISHED:
        problem(REPORT_NOT_FROZEN, "status", "status 是 published，但没有冻结数字文件 " + figures.name + "。")
    return report, issues


def _parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def read_frozen(path: Path) -> Frozen:
    try:
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("format") != FIGURES_FORMAT:
            raise ReportError(f"冻结文件格式版本 {doc.get('format')} 不受支持。")
        body = {k: v for k, v in doc.items() if k != "digest"}
        if doc.get("digest") != _digest_of(body):
            raise ReportError("冻结文件的校验值不符：数字在发布之后被手工改动过。")
        return Frozen(
            Period.parse(doc["period"]), _parse_time(doc["computed_at"]), _parse_time(doc["updated_at"]),
            _parse_time(doc.get("as_of")), doc["case_digest"], doc.get("case_files", []), doc["figures"],
            [Correction(_parse_time(c["at"]), c.get("note", ""), c["changes"], c.get("case_digest", ""))
             for c in doc.get("corrections", [])],
        )
    except ReportError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"冻结文件无法读取：{exc}") from exc


def _digest_of(body: dict[str, Any]) -> str:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _frozen_document(frozen: Frozen) -> dict[str, Any]:
    body = {
        "format": FIGURES_FORMAT,
        "period": frozen.period.key,
        "computed_at": frozen.computed_at.isoformat(timespec="seconds"),
        "updated_at": frozen.updated_at.isoformat(timespec="seconds"),
        "as_of": frozen.as_of.isoformat(timespec="seconds") if frozen.as_of else None,
        "case_digest": frozen.case_digest,
        "case_files": frozen.case_files,
        "figures": frozen.figures,
        "corrections": [
            {"at": c.at.isoformat(timespec="seconds"), "note": c.note, "case_digest": c.case_digest,
             "changes": c.changes}
            for c in frozen.corrections
        ],
    }
    return {**body, "digest": _digest_of(body)}


def write_frozen(path: Path, frozen: Frozen) -> None:
    text = json.dumps(_frozen_document(frozen), ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


def display_path(path: Path, data_dir: Path) -> str:
    from generator.load import display_root, rel

    return rel(path, display_root(data_dir))


def report_files(data_dir: Path) -> list[Path]:
    folder = Path(data_dir) / REPORTS_FOLDER
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def load_reports(data_dir: Path) -> tuple[list[Report], list[Issue]]:
    reports, issues = [], []
    for path in report_files(data_dir):
        report, found = read_report(path, display_path(path, data_dir))
        issues.extend(found)
        if report is not None:
            reports.append(report)
    return sorted(reports, key=lambda r: r.period), issues


def check_reports(data_dir: Path, dataset: Dataset | None) -> list[Issue]:
    """The validator's plug-in: every report file, its frozen figures and its references."""
    data_dir = Path(data_dir)
    reports, issues = load_reports(data_dir)
    folder = data_dir / REPORTS_FOLDER
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix == ".yaml" and path.is_file():
                continue
            if path.name.endswith(FIGURES_SUFFIX) and (folder / path.name.replace(FIGURES_SUFFIX, ".yaml")).exists():
                continue
            issues.append(Issue.of(REPORT_UNEXPECTED_FILE, display_path(path, data_dir), None, "",
                                   f"{path.name} 不是季度报告或冻结数字文件，不会被读取。"))
    if dataset is not None:
        for report in reports:
            file = display_path(report.file, data_dir)
            lines = _lines(yaml.compose(report.file.read_text("utf-8")))
            for key, ids, table, what in (
                ("featured_decisions", report.featured_decisions, dataset.decisions, "决议"),
                ("featured_projects", report.featured_projects, dataset.projects, "项目"),
            ):
                for i, ref in enumerate(ids):
                    if ref not in table:
                        issues.append(Issue.of(REPORT_UNKNOWN_REFERENCE, file, lines.get(f"{key}[{i}]", lines.get(key)),
                                               f"{key}[{i}]", f"未找到{what}“{ref}”。"))
    return issues


# ----------------------------------------------------------------------------- figures


def case_digest(case_files: Iterable[Path]) -> tuple[str, list[dict[str, Any]]]:
    """A digest of the case files' bytes (in name order) and their names and sizes."""
    digest = hashlib.sha256()
    listed = []
    for path in sorted(Path(p) for p in case_files):
        digest.update(path.name.encode("utf-8") + b"\0")
        size = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        listed.append({"name": path.name, "bytes": size})
    return "sha256:" + digest.hexdigest(), listed


_KPI_FIELDS = (
    "received", "accepted", "withdrawn", "due", "closed", "closed_on_time", "handling_days_mean",
    "handling_days_median", "resolved_at_grid", "resolved_at_community", "resolved_at_street",
    "resolved_at_district", "answered", "satisfied",
)


def kpi_to_dict(kpi: Kpi) -> dict[str, Any]:
    data: dict[str, Any] = {"period": kpi.period.key}
    for name in _KPI_FIELDS:
        value = getattr(kpi, name)
        data[name] = round(value, 6) if isinstance(value, float) else value
    data["channels"] = [list(pair) for pair in kpi.channels]
    data["categories"] = [list(pair) for pair in kpi.categories]
    return data


def kpi_from_dict(level: Level, unit: str, data: dict[str, Any]) -> Kpi:
    values = {name: data.get(name) for name in _KPI_FIELDS}
    for name in _KPI_FIELDS:
        if values[name] is None and not name.startswith("handling"):
            values[name] = 0
    return Kpi(level, unit, Period.parse(data["period"]), **values,
               channels=tuple((str(n), int(c)) for n, c in data.get("channels", [])),
               categories=tuple((str(n), int(c)) for n, c in data.get("categories", [])))


def report_figures(stats: SiteStats, dataset: Dataset, period: Period) -> dict[str, Any]:
    """The figures a report shows, as plain data (what is frozen at publication)."""
    district = stats.district_kpi(period)
    previous = stats.get(Level.DISTRICT, stats.district_code, period.previous())
    year_before = stats.get(Level.DISTRICT, stats.district_code, period.year_before())
    streets = []
    for sid, street in dataset.streets.items():
        kpi = stats.get_or_empty(Level.STREET, sid, period)
        before = stats.get(Level.STREET, sid, period.previous())
        streets.append({"id": sid, "name": street.name, "current": kpi_to_dict(kpi),
                        "previous": kpi_to_dict(before) if before else None})
    return {
        "district": {"code": stats.district_code, "name": dataset.district.name,
                     "current": kpi_to_dict(district),
                     "previous": kpi_to_dict(previous) if previous else None,
                     "year_before": kpi_to_dict(year_before) if year_before else None},
        "streets": streets,
    }


def _flat(figures: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Every published figure as (scope, metric label) → shown text, for 更正 comparisons."""
    flat: dict[tuple[str, str], str] = {}
    district = figures["district"]

    def add(scope: str, data: dict[str, Any] | None, level: Level, unit: str) -> None:
        if data is None:
            return
        kpi = kpi_from_dict(level, unit, data)
        for metric in METRICS:
            flat[(scope, metric.label)] = format_metric(metric.key, kpi.value(metric.key))
        if level is not Level.DISTRICT:
            return  # published by street without their splits (see figures_csv)
        for split, pairs in (("类别", kpi.categories), ("渠道", kpi.channels)):
            marks = protect_breakdown(pairs)
            for name, count in pairs:
                flat[(scope, f"{name}（{split}件数）")] = marks.get(name) or f"{count:,}"

    add(district["name"], district["current"], Level.DISTRICT, district["code"])
    add(f"{district['name']}（上一季度）", district.get("previous"), Level.DISTRICT, district["code"])
    add(f"{district['name']}（上年同期）", district.get("year_before"), Level.DISTRICT, district["code"])
    for street in figures["streets"]:
        add(street["name"], street["current"], Level.STREET, street["id"])
        add(f"{street['name']}（上一季度）", street.get("previous"), Level.STREET, street["id"])
    return flat


def compare_figures(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, str]]:
    """What a reader would see change: every figure whose shown text differs."""
    before, after = _flat(old), _flat(new)
    changes = []
    for key in list(before) + [k for k in after if k not in before]:
        was, now = before.get(key, "—"), after.get(key, "—")
        if was != now:
            changes.append({"scope": key[0], "metric": key[1], "old": was, "new": now})
    return changes


# ----------------------------------------------------------------------------- commands


@dataclass
class PublishResult:
    report: Report
    kind: str  # "published", "corrected", "unchanged"
    changes: list[dict[str, str]] = field(default_factory=list)
    figures_file: Path | None = None


def _quarter_items(dataset: Dataset, period: Period) -> tuple[list[Decision], list[Project]]:
    """Decisions taken at meetings in the quarter, and projects completed (结项) in it."""
    decisions = [d for d in dataset.decisions.values()
                 if d.meeting_ref is not None and period.start <= d.meeting_ref.date < period.end
                 and d.outcome in (Outcome.PASSED, Outcome.PASSED_AMENDED)]
    decisions.sort(key=lambda d: (d.meeting_ref.date, d.id))
    projects = [p for p in dataset.projects.values()
                if p.status is ProjectStatus.CLOSED and p.end_on and period.start <= p.end_on < period.end]
    projects.sort(key=lambda p: (p.end_on, p.id))
    return decisions, projects


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def scaffold_text(period: Period, dataset: Dataset | None) -> str:
    district = dataset.district.name if dataset else ""
    decisions, projects = _quarter_items(dataset, period) if dataset else ([], [])
    sample = bool(dataset and dataset.district.sample_data)
    lines = [
        f"# {period.label}社区治理季度报告。由 gongzhi report new {period.key} 生成。",
        "# 工作人员填写各节正文；数字、表格和图表在生成网站时由事件记录自动加入。",
        f"# 写好后运行 gongzhi report publish {period.key} 发布：数字将被冻结，草稿不会出现在网站上。",
        f"period: {period.key}",
        f"title: {_yaml_str(f'{period.label}{district}社区治理季度报告')}",
        "status: draft  # draft 草稿；发布请用命令，不要手改",
        f"sample_data: {'true' if sample else 'false'}  # 为 true 时报告标注“示例”",
        "summary: |",
        "  （用两三句话概括本季度：受理多少事件，办结情况，网格内解决率，居民满意率的变化。）",
        "sections:",
    ]
    for heading, prompt in (
        ("总体情况", "本季度事件受理、办结与满意度的总体情况，与上一季度和去年同期相比的变化。"),
        ("小事不出网格", "网格内、社区内、镇街内解决的情况；成效明显或问题突出的镇街、村社。"),
        ("协商议事与项目", "本季度议事协商形成的决议、结项的项目及其成效。"),
        ("存在的问题", "超期未结、满意度偏低的类别或地区，以及原因分析。"),
        ("下季度工作重点", "针对上述问题的安排。"),
    ):
        lines += [f"  - heading: {heading}", "    body: |", f"      （{prompt}）"]
    lines.append("# 重点展示的决议与项目（编号）；下面预填了本季度通过的决议和结项的项目，请删减。")
    lines.append("featured_decisions:" + ("" if decisions else " []"))
    lines += [f"  - {d.id}" for d in decisions[:5]]
    lines.append("featured_projects:" + ("" if projects else " []"))
    lines += [f"  - {p.id}" for p in projects[:5]]
    return "\n".join(lines) + "\n"


def new_report(data_dir: Path, period: Period, dataset: Dataset | None = None) -> Path:
    """Write the scaffold of a draft report; refuses to overwrite an existing one."""
    if not period.is_quarter:
        raise ReportError(f"季度报告的统计期应是季度，如 {period.year}Q3。")
    path = report_path(data_dir, period)
    if path.exists():
        raise ReportError(f"{path} 已存在，不会覆盖。要重新开始，请先删除或改名。")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scaffold_text(period, dataset), "utf-8")
    return path


def _set_published(path: Path, on: dt.date) -> None:
    """Change ``status:`` to published and add ``published_on`` — only those lines."""
    text = path.read_text("utf-8")
    status_re = re.compile(r"^status:[^\n]*$", re.M)
    if not status_re.search(text):
        raise ReportError(f"{path} 中没有 status 一行。")
    text = status_re.sub("status: published  # 已发布：数字已冻结在同名 .figures.json 中", text, count=1)
    if re.search(r"^published_on:", text, re.M):
        text = re.sub(r"^published_on:[^\n]*$", f"published_on: {on.isoformat()}", text, count=1, flags=re.M)
    else:
        text = status_re.sub(lambda m: m.group(0) + f"\npublished_on: {on.isoformat()}", text, count=1)
    path.write_text(text, "utf-8")


def publish_report(
    data_dir: Path,
    period: Period,
    dataset: Dataset,
    stats: SiteStats,
    now: dt.datetime | None = None,
    note: str = "",
    allow_incomplete: bool = False,
) -> PublishResult:
    """Freeze a report's figures; republishing records a correction when figures changed."""
    path = report_path(data_dir, period)
    if not path.exists():
        raise ReportError(f"找不到 {path}。先运行 gongzhi report new {period.key}。")
    report, issues = read_report(path, display_path(path, data_dir))
    errors = [i for i in issues if i.severity is Severity.ERROR and i.code != REPORT_NOT_FROZEN.code]
    if report is None or errors:
        raise ReportError("报告文件有错误，未发布：\n" + "\n".join(i.to_text() for i in errors or issues))
    district = stats.district_kpi(period)
    if district.received == 0 and district.due == 0:
        raise ReportError(f"{period.label}没有事件记录，无法生成报告数字。")
    if not stats.is_complete(period) and not allow_incomplete:
        cut = stats.as_of.strftime("%Y-%m-%d %H:%M") if stats.as_of else "—"
        raise ReportError(
            f"事件记录只到 {cut}，{period.label}尚未结束，数字还会变化。"
            "季度结束、数据导入后再发布；确需提前发布请加 --allow-incomplete。"
        )
    now = now or dt.datetime.now(CHINA)
    figures = report_figures(stats, dataset, period)
    digest, files = case_digest(list(dataset.case_files) or case_files_in(dataset.root))
    frozen_file = figures_path(path)
    previous = report.frozen
    if previous is None:
        frozen = Frozen(period, now, now, stats.as_of, digest, files, figures)
        write_frozen(frozen_file, frozen)
        _set_published(path, now.date())
        report.frozen, report.status = frozen, ReportStatus.PUBLISHED
        return PublishResult(report, "published", [], frozen_file)
    changes = compare_figures(previous.figures, figures)
    if report.status is ReportStatus.DRAFT:
        _set_published(path, report.published_on or previous.computed_at.date())
    if not changes:
        return PublishResult(report, "unchanged", [], frozen_file)
    previous.corrections.append(Correction(now, note.strip(), changes, digest))
    previous.figures, previous.updated_at, previous.as_of = figures, now, stats.as_of
    previous.case_digest, previous.case_files = digest, files
    write_frozen(frozen_file, previous)
    return PublishResult(report, "corrected", changes, frozen_file)


# ----------------------------------------------------------------------------- site


@dataclass
class ReportPageData:
    """Everything the report template prints (formatted), built from frozen figures."""

    report: Report
    district: KpiView
    previous: KpiView | None
    year_before: KpiView | None
    kpi_rows: list[dict[str, Any]]
    streets: list[KpiView]
    funnel: list[tuple[str, Any]]  # (label, Figure)
    charts: dict[str, Any]
    decisions: list[Decision]
    projects: list[Project]
    featured_decisions: list[Decision]
    featured_projects: list[Project]
    csv_path: str
    json_path: str
    published_label: str
    as_of_label: str
    corrections: list[Correction]


def _zh_date(value: dt.date | dt.datetime | None) -> str:
    return "—" if value is None else f"{value.year}年{value.month}月{value.day}日"


def _zh_time(value: dt.datetime | None) -> str:
    return "—" if value is None else f"{_zh_date(value)} {value:%H:%M}"


def page_data(report: Report, dataset: Dataset, renderer=None) -> ReportPageData:
    """Join the narrative with views and charts of the frozen figures."""
    from generator.charts import ChartRenderer, bar_chart

    frozen = report.frozen
    if frozen is None:
        raise ReportError(f"{report.period.label}的报告尚未发布。")
    fig = frozen.figures
    d = fig["district"]
    current = kpi_from_dict(Level.DISTRICT, d["code"], d["current"])
    previous = kpi_from_dict(Level.DISTRICT, d["code"], d["previous"]) if d.get("previous") else None
    year_before = kpi_from_dict(Level.DISTRICT, d["code"], d["year_before"]) if d.get("year_before") else None
    view = KpiView(current, d["name"], previous, year_before)
    kpi_rows = [
        {"label": METRICS_BY_KEY[key].label, "current": view.figures[key],
         "previous": KpiView(previous, d["name"]).figures[key] if previous else None,
         "vs_previous": view.change(key),
         "year_before": KpiView(year_before, d["name"]).figures[key] if year_before else None,
         "vs_year_before": view.change(key, "year")}
        for key in (*HEADLINE[:2], "closed", "closed_on_time", "overdue_open", *HEADLINE[2:],
                    "handling_days_mean", "answered")
    ]
    streets = []
    for s in fig["streets"]:
        kpi = kpi_from_dict(Level.STREET, s["id"], s["current"])
        before = kpi_from_dict(Level.STREET, s["id"], s["previous"]) if s.get("previous") else None
        streets.append(KpiView(kpi, s["name"], before))
    funnel = [("网格内解决", view.grid_resolution_rate), ("社区内解决", view.community_resolution_rate),
              ("镇街内解决", view.street_resolution_rate), ("全部办结", view.completion_rate)]
    shown = [c for c in view.categories if not c.count.suppressed]
    specs = {
        "funnel": bar_chart(f"{report.period.short_label}：解决层级（累计）", [f[0] for f in funnel[:3]],
                            [current.grid_resolution_rate, current.community_resolution_rate,
                             current.street_resolution_rate], "占已办结", percent=True),
        "streets": bar_chart(f"{report.period.short_label}：各镇街按期办结率", [s.name for s in streets],
                             [s.on_time_rate.value for s in streets], "按期办结率", percent=True),
        # hidden small categories stay in the table beside the chart, not as zero-length bars
        "categories": bar_chart(f"{report.period.short_label}：事件类别", [c.name for c in shown],
                                [c.count.value for c in shown], "件数", unit=" 件"),
    }
    renderer = renderer or ChartRenderer(workers=1)
    rendered = dict(zip(specs, renderer.render_many(specs.values()), strict=True))
    decisions, projects = _quarter_items(dataset, report.period)
    featured_decisions = [dataset.decisions[i] for i in report.featured_decisions if i in dataset.decisions]
    featured_projects = [dataset.projects[i] for i in report.featured_projects if i in dataset.projects]
    return ReportPageData(
        report, view, KpiView(previous, d["name"]) if previous else None,
        KpiView(year_before, d["name"]) if year_before else None, kpi_rows, streets, funnel, rendered,
        decisions, projects, featured_decisions, featured_projects,
        f"reports/{report.slug}.csv", f"reports/{report.slug}.json",
        _zh_date(report.published_on or frozen.computed_at), _zh_time(frozen.as_of), frozen.corrections,
    )


SUPPRESSED_NOTE = "；1—4 件及为防反推而一并隐去的数不公布（见指标说明）"


def figures_csv(report: Report) -> bytes:
    """The report's figures, one row per (scope, period, metric): UTF-8 with BOM for Excel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["范围", "编号", "统计期", "指标键", "指标", "数值", "显示值", "口径"])
    fig = report.frozen.figures
    d = fig["district"]
    units = [(d["name"], Level.DISTRICT, d["code"], d[k]) for k in ("current", "previous", "year_before") if d.get(k)]
    units += [(s["name"], Level.STREET, s["id"], s[k]) for s in fig["streets"] for k in ("current", "previous") if s.get(k)]
    for name, level, unit, data in units:
        kpi = kpi_from_dict(level, unit, data)
        for metric in METRICS:
            value = kpi.value(metric.key)
            raw = "" if value is None else (f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value))
            writer.writerow([name, unit, kpi.period.key, metric.key, metric.label, raw,
                             format_metric(metric.key, value), metric.definition])
        if level is not Level.DISTRICT:
            continue  # splits by street would add sums across streets that undo the hiding
        for group, pairs in (("类别", kpi.categories), ("渠道", kpi.channels)):
            marks = protect_breakdown(pairs)
            for label, count in pairs:
                mark = marks.get(label)
                writer.writerow([name, unit, kpi.period.key, f"{'category' if group == '类别' else 'channel'}:{label}",
                                 f"{group}：{label}", "" if mark else str(count), mark or f"{count:,}",
                                 f"上报件数中{group}为“{label}”的件数" + (SUPPRESSED_NOTE if mark else "")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def figures_json(report: Report) -> bytes:
    """The frozen document with rates added, for anyone who wants to re-check the report."""
    # a deep copy: the rates below must not be written into the frozen figures themselves
    # (a second rendering in the same process would then publish another digest)
    doc = copy.deepcopy(_frozen_document(report.frozen))
    fig = doc["figures"]

    def with_rates(level: Level, unit: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if data is None:
            return None
        kpi = kpi_from_dict(level, unit, data)
        published = {**data, "rates": {m.key: kpi.value(m.key) for m in METRICS if m.numerator}}
        for split in ("categories", "channels"):
            if level is not Level.DISTRICT:
                published.pop(split, None)  # see figures_csv
                continue
            marks = protect_breakdown(getattr(kpi, split))
            published[split] = [[n, None, marks[n]] if n in marks else [n, c] for n, c in getattr(kpi, split)]
        return published

    d = fig["district"]
    for key in ("current", "previous", "year_before"):
        d[key] = with_rates(Level.DISTRICT, d["code"], d.get(key))
    for s in fig["streets"]:
        for key in ("current", "previous"):
            s[key] = with_rates(Level.STREET, s["id"], s.get(key))
    doc["title"] = report.title
    doc["metrics"] = [{"key": m.key, "label": m.label, "unit": m.unit.value, "definition": m.definition}
                      for m in METRICS]
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def atom_feed(reports: list[Report], site_url: str, district_name: str) -> bytes:
    """An Atom 1.0 feed of published reports, with absolute URLs."""
    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)
    base = site_url if site_url.endswith("/") else site_url + "/"

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ns}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    sub(feed, "id", base + "reports/")
    sub(feed, "title", f"{district_name}社区治理季度报告")
    sub(feed, "subtitle", "已发布的季度报告：事件办理、解决层级、满意度与协商议事。")
    newest = [r.frozen.updated_at for r in reports if r.frozen]
    sub(feed, "updated", (max(newest) if newest else dt.datetime(2000, 1, 1, tzinfo=CHINA)).isoformat(timespec="seconds"))
    sub(feed, "link", rel="self", type="application/atom+xml", href=base + "reports/feed.xml")
    sub(feed, "link", rel="alternate", type="text/html", href=base + "reports/")
    author = sub(feed, "author")
    sub(author, "name", district_name)
    sub(feed, "generator", "共治 Gongzhi")
    for report in sorted(reports, key=lambda r: r.period, reverse=True):
        frozen = report.frozen
        url = f"{base}reports/{report.slug}/"
        entry = sub(feed, "entry")
        sub(entry, "id", url)
        sub(entry, "title", report.title + ("（示例）" if report.sample_data else ""))
        sub(entry, "link", rel="alternate", type="text/html", href=url)
        published = dt.datetime.combine(report.published_on, dt.time(), CHINA) if report.published_on else frozen.computed_at
        sub(entry, "published", published.isoformat(timespec="seconds"))
        sub(entry, "updated", max(frozen.updated_at, published).isoformat(timespec="seconds"))
        summary = _WS.sub(" ", report.summary).strip() or report.title
        if frozen.corrections:
            summary += f"（已更正 {len(frozen.corrections)} 次，最近一次：{_zh_date(frozen.corrections[-1].at)}）"
        sub(entry, "summary", summary)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


_WS = re.compile(r"\s+")


@dataclass
class ReportsView:
    """``ctx.derived["reports"]``: published reports, newest first (drafts are left out)."""

    published: list[Report]
    feed: bool  # a feed is written (the site has an absolute site_url)

    @property
    def latest(self) -> Report | None:
        return self.published[0] if self.published else None


def derive(data_dir: Path, site_url: str = "") -> ReportsView:
    reports, _issues = load_reports(data_dir)  # the validator has reported the issues already
    published = [r for r in reports if r.status is ReportStatus.PUBLISHED and r.frozen is not None]
    published.sort(key=lambda r: r.period, reverse=True)
    return ReportsView(published, bool(re.match(r"^https?://", site_url or "")))


def _report_context(report: Report, dataset: Dataset, renderer: Any, sample: bool) -> dict[str, Any]:
    return {"title": report.title, "r": page_data(report, dataset, renderer), "report": report,
            "sample": sample or report.sample_data}


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    """Report pages, the archive, downloads and the Atom feed. Drafts never appear."""
    view = ctx.derived.get("reports")
    if not isinstance(view, ReportsView):
        view = derive(ctx.dataset.root, ctx.site_url)
        ctx.derived["reports"] = view
    renderer = ctx.derived.get("chart_renderer")
    sample = bool(ctx.dataset.district.sample_data)
    for report in view.published:
        # its charts are drawn when the page is rendered: a build does that while MkDocs runs
        context = partial(_report_context, report, ctx.dataset, renderer, sample)
        yield Page(f"reports/{report.slug}.md", "report.md", Deferred(context))
        yield Asset(f"reports/{report.slug}.csv", figures_csv(report))
        yield Asset(f"reports/{report.slug}.json", figures_json(report))
    yield Page("reports/index.md", "reports_index.md",
               {"title": "季度报告", "reports": view.published, "feed": view.feed, "sample": sample})
    if view.feed:
        yield Asset("reports/feed.xml", atom_feed(view.published, ctx.site_url, ctx.dataset.district.name))
