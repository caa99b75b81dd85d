"""Structural checks of the built sample site: report pages, statistics partials, feed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from generator.build import build

    tmp = tmp_path_factory.mktemp("stats_site")
    out = tmp / "site"
    build(ROOT / "data", out, docs_dir=tmp / "docs", today=dt.date(2026, 11, 28), index=False)
    return out


def _soup(site: Path, path: str) -> BeautifulSoup:
    return BeautifulSoup((site / path).read_text("utf-8"), "html.parser")


def test_published_report_is_built_and_draft_is_not(site):
    assert (site / "reports/2026-q2/index.html").is_file()
    assert not (site / "reports/2026-q3").exists() and not (site / "reports/2026-q3.csv").exists()
    archive = _soup(site, "reports/index.html")
    titles = [a.get_text() for a in archive.select("article table a")]
    assert titles == ["2026年第二季度临平区社区治理季度报告"]
    assert "2026年第三季度" not in archive.get_text()


def test_report_page(site):
    soup = _soup(site, "reports/2026-q2/index.html")
    article = soup.find("article")
    assert article.select_one(".gz-report-cover h1").get_text().startswith("2026年第二季度临平区社区治理季度报告")
    assert "示例" in article.select_one(".gz-report-cover").get_text()
    figures = article.select("figure.gz-chart")
    assert len(figures) == 3
    for figure in figures:
        svg = figure.find("svg")
        assert svg["role"] == "img" and svg.find("title").get_text()
        assert any(re.search(r"[\u4e00-\u9fff]", t.get_text()) for t in svg.find_all("text"))
    for table in article.find_all("table"):
        assert table.find("thead") is not None  # printed headers repeat from thead
    assert len(article.select(".gz-page-break")) == 2
    hrefs = [a.get("href", "") for a in article.find_all("a")]
    assert "../2026-q2.csv" in hrefs and "../2026-q2.json" in hrefs
    assert (site / "reports/2026-q2.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    head = soup.find("head")
    assert any("report-print.css" in link.get("href", "") for link in head.find_all("link"))
    for tag in soup.find_all(["script", "link", "img"]):
        if tag.name == "link" and set(tag.get("rel", [])) & {"canonical", "alternate"}:
            continue  # names the page's public address; the browser does not fetch it
        url = tag.get("src") or tag.get("href") or ""
        assert not url.startswith(("http://", "https://", "//")), url


def test_feed_has_absolute_urls_from_site_url(site):
    root = ET.fromstring((site / "reports/feed.xml").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = root.findall("a:entry", ns)
    assert entry.find("a:link", ns).get("href") == "https://gongzhi.example.org/reports/2026-q2/"
    assert (site / "reports/2026-q2/index.html").is_file()


def test_community_page_kpis_and_suppressed_grids(site):
    soup = _soup(site, "communities/xinfeng/index.html")
    heading = soup.find("h2", string="事件办理")
    assert heading is not None
    assert heading.find_next("figure", class_="gz-chart").find("svg")["role"] == "img"
    kpi = heading.find_next("table")
    header = [th.get_text() for th in kpi.find("thead").find_all("th")]
    assert header[0] == "指标" and header[-2:] == ["环比", "同比"] and len(header) == 8
    grids = soup.find("h3", string=re.compile("各网格")).find_next("table")
    for row in grids.find("tbody").find_all("tr"):
        for cell in row.find_all("td")[1:4]:  # 上报, 应结案, 已办结
            text = cell.get_text().replace(",", "")
            assert text == "<5" or int(text) == 0 or int(text) >= 5, text


def test_district_ranking_states_its_minimum_and_metrics_page_defines_all(site):
    from generator.metrics import METRICS

    home = _soup(site, "index.html").get_text()
    assert "应结案不少于 30 件" in home
    metrics = _soup(site, "metrics/index.html")
    labels = [h.get_text() for h in metrics.find_all("h3")]
    assert labels == [m.label for m in METRICS]
    stats = _soup(site, "stats/index.html")
    assert "村社按期办结率排名" in stats.get_text()


def test_street_page_kpis_and_home_links_latest_report(site):
    street = _soup(site, "streets/linping/index.html")
    heading = street.find("h2", string="事件办理")
    assert heading is not None and heading.find_next("figure", class_="gz-chart") is not None
    communities = street.find("h3", string=re.compile("各村社")).find_next("table")
    assert any(a.get_text() == "新丰社区" for a in communities.find_all("a"))
    home = _soup(site, "index.html")
    assert any(a.get("href", "").endswith("reports/2026-q2/") for a in home.find_all("a"))
