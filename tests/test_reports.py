"""Quarterly reports: scaffold, frozen figures, 更正 on republish, checks, pages, feed."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import markdown
import pytest
from bs4 import BeautifulSoup

from generator.metrics import Period
from generator.pages import Asset, Page, RenderContext, resolved
from generator.reports import (
    CHINA,
    ReportError,
    atom_feed,
    check_reports,
    load_reports,
    new_report,
    page_data,
    pages,
    publish_report,
    read_report,
)
from generator.stats import compute_stats

_spec = importlib.util.spec_from_file_location("stats_sample", Path(__file__).parent / "fixtures/stats/sample.py")
sample = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample)

Q2 = Period(2026, 2)
NOW = dt.datetime(2026, 7, 10, 9, 30, tzinfo=CHINA)
LATER = dt.datetime(2026, 8, 3, 16, 5, tzinfo=CHINA)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "cases").mkdir(parents=True)
    shutil.copy(sample.CASES, data / "cases" / "cases.csv")
    return data


def _dataset(data: Path):
    return sample.make_dataset(data, [data / "cases" / "cases.csv"])


def _stats(data: Path):
    return compute_stats([data / "cases" / "cases.csv"], sample.COMMUNITY_STREETS, district="330199")


def _publish(data: Path, now: dt.datetime = NOW, note: str = ""):
    return publish_report(data, Q2, _dataset(data), _stats(data), now=now, note=note)


def _ctx(data: Path) -> RenderContext:
    return RenderContext(_dataset(data), dt.date(2026, 11, 28), "https://example.org/gz/", None)


def _render(data: Path) -> dict[str, Page | Asset]:
    return {item.path: item for item in pages(_ctx(data))}


def _html(page: Page, data: Path) -> BeautifulSoup:
    from generator.render import make_environment

    ctx = _ctx(data)
    env = make_environment()
    text = env.get_template(page.template).render(
        {"ctx": ctx, "dataset": ctx.dataset, "district": ctx.dataset.district, "today": ctx.today,
         "derived": ctx.derived, "edit_base": None, **resolved(page.context), "page_path": page.path,
         "prov": lambda origin: None}
    )
    body = text.split("---", 2)[2]  # front matter
    html = markdown.markdown(body, extensions=["tables", "attr_list", "md_in_html", "admonition"])
    return BeautifulSoup(html, "html.parser")


def test_scaffold_is_a_draft_and_never_on_the_site(data_dir):
    path = new_report(data_dir, Q2, _dataset(data_dir))
    assert path == data_dir / "reports" / "2026-Q2.yaml"
    report, issues = read_report(path)
    assert issues == [] and report.status.value == "draft" and len(report.sections) == 5
    assert report.title == "2026年第二季度示例区社区治理季度报告"
    with pytest.raises(ReportError, match="已存在"):
        new_report(data_dir, Q2)
    items = _render(data_dir)
    assert not any(p.startswith("reports/2026-q2") for p in items)  # drafts never appear
    assert "reports/index.md" in items


def test_publish_freezes_and_later_case_changes_do_not_change_the_report(data_dir):
    new_report(data_dir, Q2, _dataset(data_dir))
    result = _publish(data_dir)
    assert result.kind == "published"
    text = (data_dir / "reports" / "2026-Q2.yaml").read_text("utf-8")
    assert "status: published" in text and "published_on: 2026-07-10" in text
    frozen = json.loads((data_dir / "reports" / "2026-Q2.figures.json").read_text("utf-8"))
    assert frozen["computed_at"] == "2026-07-10T09:30:00+08:00"
    assert frozen["case_digest"].startswith("sha256:") and frozen["figures"]["district"]["current"]["due"] == 6

    # a correction to the case records: B3 was in fact closed on time
    cases = data_dir / "cases" / "cases.csv"
    cases.write_text(cases.read_text("utf-8").replace("2026-05-15T08:00:00,已办结", "2026-05-11T08:00:00,已办结"), "utf-8")
    assert _stats(data_dir).district_kpi(Q2).closed_on_time == 5  # the live figure moved
    report = load_reports(data_dir)[0][0]
    view = page_data(report, _dataset(data_dir))
    assert str(view.district.on_time_rate) == "66.7%"  # the published one did not
    assert str(view.district.closed_on_time) == "4"


def test_republish_after_data_changed_shows_correction(data_dir):
    new_report(data_dir, Q2, _dataset(data_dir))
    _publish(data_dir)
    assert _publish(data_dir, LATER).kind == "unchanged"
    cases = data_dir / "cases" / "cases.csv"
    cases.write_text(cases.read_text("utf-8").replace("2026-05-15T08:00:00,已办结", "2026-05-11T08:00:00,已办结"), "utf-8")
    result = _publish(data_dir, LATER, note="电梯故障事件办结时间录入有误")
    assert result.kind == "corrected"
    changes = {(c["scope"], c["metric"]): (c["old"], c["new"]) for c in result.changes}
    assert changes[("示例区", "按期办结率")] == ("66.7%", "83.3%")
    assert changes[("甲街道", "按期办结")] == ("3", "4")  # B1 B2 B4 on time, now B3 too
    assert ("示例区", "办结率") not in changes  # unchanged figures are not listed

    report = load_reports(data_dir)[0][0]
    assert report.frozen.computed_at == NOW and report.frozen.updated_at == LATER
    [correction] = report.frozen.corrections
    assert correction.at == LATER and correction.note == "电梯故障事件办结时间录入有误"
    page = _render(data_dir)["reports/2026-q2.md"]
    soup = _html(page, data_dir)
    box = soup.find(class_="admonition")
    assert box is not None and "更正" in box.get_text()
    assert "按期办结率：66.7% → 83.3%" in box.get_text() and "2026年8月3日 16:05" in box.get_text()
    assert "83.3%" in soup.find("table").get_text() or "83.3%" in soup.get_text()


def test_report_page_structure(data_dir):
    new_report(data_dir, Q2, _dataset(data_dir))
    _publish(data_dir)
    items = _render(data_dir)
    page = items["reports/2026-q2.md"]
    soup = _html(page, data_dir)
    cover = soup.find(class_="gz-report-cover")
    assert cover.find("h1").get_text().startswith("2026年第二季度示例区社区治理季度报告")
    headings = [h.get_text() for h in soup.find_all("h2")]
    for expected in ("摘要", "全区主要指标", "各镇街", "事件类别", "居民满意度", "协商议事与项目", "数据与口径"):
        assert expected in headings
    assert any(h.startswith("解决层级") for h in headings)
    kpis = soup.find("h2", string="全区主要指标").find_next("table")
    assert [th.get_text() for th in kpis.find("thead").find_all("th")] == ["指标", "2026年2季度", "上一季度", "环比", "上年同期", "同比"]
    rows = {tr.find("td").get_text(): [td.get_text() for td in tr.find_all("td")] for tr in kpis.find("tbody").find_all("tr")}
    assert rows["按期办结率"][1] == "66.7%" and rows["应结案"][1] == "6"
    # every chart is an inline SVG with role=img, a title, text labels, then its data table
    charts = soup.find_all("figure", class_="gz-chart")
    assert len(charts) == 3
    for figure in charts:
        svg = figure.find("svg")
        assert svg["role"] == "img" and svg.find("title").get_text()
        assert svg.find_all("text")
        assert figure.find_next_sibling("table") is not None or figure.find_next("table") is not None
    streets = soup.find("h2", string="各镇街").find_next("table")
    assert [tr.find("td").get_text() for tr in streets.find("tbody").find_all("tr")] == ["甲街道", "乙镇"]
    links = [a["href"] for a in soup.find_all("a")]
    assert "2026-q2.csv" in links and "2026-q2.json" in links
    csv_text = items["reports/2026-q2.csv"].content.decode("utf-8-sig")
    assert "示例区,330199,2026Q2,on_time_rate,按期办结率,0.666667,66.7%," in csv_text
    doc = json.loads(items["reports/2026-q2.json"].content)
    assert doc["figures"]["district"]["current"]["rates"]["on_time_rate"] == pytest.approx(4 / 6)


def test_atom_feed_is_valid(data_dir):
    new_report(data_dir, Q2, _dataset(data_dir))
    _publish(data_dir)
    feed_bytes = _render(data_dir)["reports/feed.xml"].content
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(feed_bytes)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    for tag in ("id", "title", "updated", "author/a:name"):
        assert root.find("a:" + tag, ns) is not None and root.find("a:" + tag, ns).text
    self_link = root.find("a:link[@rel='self']", ns)
    assert self_link.get("href") == "https://example.org/gz/reports/feed.xml"
    [entry] = root.findall("a:entry", ns)
    assert entry.find("a:id", ns).text == "https://example.org/gz/reports/2026-q2/"
    assert entry.find("a:link", ns).get("href").startswith("https://")
    for tag in ("updated", "published"):
        dt.datetime.fromisoformat(entry.find(f"a:{tag}", ns).text)  # RFC 3339 date-times
        assert entry.find(f"a:{tag}", ns).text.endswith("+08:00")
    assert entry.find("a:title", ns).text and entry.find("a:summary", ns).text
    # no absolute site_url, no feed (Atom needs absolute URLs)
    assert atom_feed([], "https://x.org", "示例区").startswith(b"<?xml")
    ctx = _ctx(data_dir)
    ctx.site_url = ""
    assert "reports/feed.xml" not in {i.path for i in pages(ctx)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("period: 2026Q2\ntitle: 报告\nstatus: draft\nsumary: x\n", [("report-unknown-key", 4, "sumary")]),
        ("period: 2026Q3\ntitle: 报告\nstatus: draft\n", [("report-period-mismatch", 1, "period")]),
        ("period: 2026Q2\ntitle: 报告\nstatus: final\n", [("report-invalid", 3, "status")]),
        ("period: 2026Q2\nstatus: draft\n", [("report-invalid", 1, "title")]),
        ("period: 2026Q2\ntitle: 报告\nstatus: published\n", [("report-not-frozen", 3, "status")]),
        ("period: 2026Q2\ntitle: 报告\nstatus: draft\nfeatured_projects:\n  - c1-garden\n",
         [("report-unknown-reference", 5, "featured_projects[0]")]),
        ("period: 2026Q2\ntitle: [报告\n", [("yaml-syntax", 3, "")]),
        ("period: 2026Q2\ntitle: 报告\nstatus: draft\nsections:\n  - body: 无标题\n",
         [("report-invalid", 5, "sections[0]")]),
    ],
)
def test_check_reports(tmp_path, text, expected):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "2026-Q2.yaml").write_text(text, "utf-8")
    issues = check_reports(tmp_path, sample.make_dataset(tmp_path))
    assert [(i.code, i.line, i.key) for i in issues] == expected
    assert all(i.file.endswith("reports/2026-Q2.yaml") for i in issues)


def test_tampered_frozen_figures_are_reported(data_dir):
    new_report(data_dir, Q2, _dataset(data_dir))
    _publish(data_dir)
    figures = data_dir / "reports" / "2026-Q2.figures.json"
    figures.write_text(figures.read_text("utf-8").replace('"due": 6', '"due": 60'), "utf-8")
    codes = [i.code for i in check_reports(data_dir, _dataset(data_dir))]
    assert codes == ["report-figures-broken"]


def test_publishing_needs_cases_and_a_finished_quarter(data_dir):
    new_report(data_dir, Period(2026, 3), _dataset(data_dir))
    with pytest.raises(ReportError, match="尚未结束"):
        publish_report(data_dir, Period(2026, 3), _dataset(data_dir), _stats(data_dir), now=NOW)
    assert publish_report(data_dir, Period(2026, 3), _dataset(data_dir), _stats(data_dir), now=NOW,
                          allow_incomplete=True).kind == "published"
    new_report(data_dir, Period(2024, 1), _dataset(data_dir))
    with pytest.raises(ReportError, match="没有事件记录"):
        publish_report(data_dir, Period(2024, 1), _dataset(data_dir), _stats(data_dir), now=NOW)
