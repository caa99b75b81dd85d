"""Every page type on a phone screen, in headless Chromium: nothing wider than the screen.

Residents read the portal at 360–390 px, often inside WeChat. The sample site (case records
included, so the statistics and report pages have their tables and charts) is built once; for
every page type one page is opened at each width and measured:

- the page itself never scrolls sideways (the document is no wider than the viewport);
- a table wider than the screen scrolls inside its own box, and its first column stays in
  view while the rest scrolls (position: sticky in gongzhi.css): scrolled to its far right,
  no part of the first cell is left of the box;
- no chart text is smaller than 12 px as drawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import launched, require_chromium, serve_folder

from generator.build import build

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = require_chromium()
WIDTHS = (360, 390)

# One page of every type the site has (the folder of a type, then one of its pages).
PAGE_TYPES = [
    "", "about/", "about/one-core/", "streets/", "streets/linping/", "communities/",
    "communities/xinfeng/", "councils/", "councils/xinfeng-council/", "councils/nanyuan-bench/",
    "meetings/", "organisations/", "organisations/anping-oc2/", "projects/",
    "projects/xinfeng-charging-shed/", "policies/", "policies/bench-review-procedure/", "awards/",
    "awards/zuimei-family-2025/", "tags/", "forms/", "forms/xinfeng-feedback/",
    "forms/xinfeng-feedback/paper/", "forms/xinfeng-feedback/thanks/", "reports/",
    "reports/2026-q2/", "stats/", "metrics/", "opendata/", "editors/", "editors/dictionary/",
    "editors/errors/", "participate/", "404.html",
]

_MEASURE = """() => {
  const doc = document.documentElement;
  document.querySelectorAll('details').forEach(d => { d.open = true; });  // folded lists too
  const tables = [...document.querySelectorAll('.md-typeset__scrollwrap')]
    .filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => {
      const cell = w.querySelector('tbody tr td:first-child');
      const box = w.getBoundingClientRect();
      w.scrollLeft = w.scrollWidth;  // scrolled to the far right: the first column still shows
      const at = cell ? cell.getBoundingClientRect() : null;
      w.scrollLeft = 0;
      return { hidden: at ? Math.max(0, box.left - at.left) : 0, right: box.right };
    });
  // the smallest text of every chart, in CSS pixels as drawn (SVG font size times its scale)
  const charts = [...document.querySelectorAll('svg.gz-chart-svg')].map(svg => Math.min(
    ...[...svg.querySelectorAll('text')].map(
      t => parseFloat(getComputedStyle(t).fontSize) * svg.getScreenCTM().a)));
  return { scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, tables, charts };
}"""


@pytest.fixture(scope="module")
def phone_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("phone-site")
    site = tmp / "site"
    build(ROOT / "data", site, docs_dir=tmp / "docs", today=dt.date(2026, 11, 28))
    return site


@pytest.fixture(scope="module")
def phone_browser() -> Iterator[Any]:
    with launched() as chromium:
        yield chromium


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_type_is_wider_than_a_phone(phone_site: Path, phone_browser: Any, width: int) -> None:
    assert all((phone_site / path / ("" if path.endswith(".html") else "index.html")).is_file()
               for path in PAGE_TYPES), "a page type is missing from the sample site"
    problems = []
    scrolled_tables = charts = 0
    with serve_folder(phone_site) as origin:
        context = phone_browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        for path in PAGE_TYPES:
            page.goto(f"{origin}/{path}")
            measured = page.evaluate(_MEASURE)
            if measured["scrollWidth"] > measured["clientWidth"]:
                problems.append(f"/{path}: page is {measured['scrollWidth']} px wide at {width} px")
            for smallest in measured["charts"]:
                charts += 1
                if smallest < 12:
                    problems.append(f"/{path}: chart text is {smallest:.1f} px at {width} px")
            for table in measured["tables"]:
                scrolled_tables += 1
                if table["right"] > width + 1:
                    problems.append(f"/{path}: a table's box ends at {table['right']:.0f} px")
                if table["hidden"] > 1:
                    problems.append(f"/{path}: the first column scrolled out of view "
                                    f"({table['hidden']:.0f} px)")
        context.close()
    assert problems == []
    # the community, street, statistics and report pages have tables wider than a phone
    assert scrolled_tables >= 5
    assert charts >= 5  # street, community, statistics and report pages have charts


def test_community_pages_weigh_at_most_50_kb_with_their_statistics(phone_site: Path) -> None:
    """With the case records, so the trend chart and the KPI tables are in (bench/bench_weight.py
    measures the district tier)."""
    pages = [p for p in (phone_site / "communities").glob("*/index.html")]
    assert len(pages) >= 14  # every community of the sample
    heavy = {p.parent.name: p.stat().st_size for p in pages if p.stat().st_size > 50_000}
    assert heavy == {}
    folds = (phone_site / "communities" / "xinfeng" / "index.html").read_text("utf-8").count(
        "<summary>共 15 个网格（展开查看）</summary>")
    assert folds == 2  # the grids, and the grids' case figures
