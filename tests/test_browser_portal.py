"""What a resident's browser does with the portal: headless Chromium over a local server,
on the site as MkDocs builds it and as Zensical builds it.

Every page type is loaded and every request recorded: none may go to another origin. The
index tables sort and filter; without JavaScript every row is still there; the pages fit a
phone's width and print on A4 without the site's chrome.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from chromium import launched, require_chromium, serve_folder

from generator.build import ENGINES, build

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = require_chromium()


@pytest.fixture(scope="module", params=ENGINES)
def site_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample site, built by each engine in turn: every test here runs against both."""
    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    data = tmp / "data"
    shutil.copytree(ROOT / "data", data)
    site = tmp / "site"
    build(data, site, docs_dir=tmp / "docs", today=dt.date(2026, 11, 28), index=True, engine=request.param)
    with serve_folder(site) as origin:
        yield origin + "/"


@pytest.fixture(scope="module")
def browser():
    with launched() as instance:
        yield instance


def _first_link(page, index: str) -> str:
    page.goto(index)
    href = page.locator("article table a").first.get_attribute("href")
    assert href
    return page.evaluate("(h) => new URL(h, location.href).href", href)


def test_no_page_type_asks_another_origin(site_url: str, browser) -> None:
    origin = urlsplit(site_url).netloc
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    targets = [site_url, site_url + "opendata/", site_url + "tags/", site_url + "about/",
               site_url + "participate/", site_url + "editors/", site_url + "about/city-brain/"]
    for index in ("streets/", "communities/", "councils/", "meetings/", "projects/", "organisations/",
                  "policies/", "awards/", "tags/"):
        targets.append(site_url + index)
        targets.append(_first_link(page, site_url + index))
    for url in targets:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "zh"
        assert "示例数据" in page.locator(".md-banner").inner_text()
    foreign = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != origin]
    assert not foreign, foreign
    assert len(requests) > len(targets)
    page.close()


def test_the_web_editor_loads_from_the_site_alone(site_url: str, browser) -> None:
    """/admin/ (Decap CMS) comes from the site itself: before an editor logs in at the git host
    it asks no other origin, and its Content-Security-Policy refuses nothing it needs."""
    origin = urlsplit(site_url).netloc
    page = browser.new_page(locale="zh-CN")
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(site_url + "admin/")
    page.get_by_role("button", name=re.compile("GitHub")).wait_for()  # the backend of mkdocs.yml
    page.wait_for_timeout(1500)  # whatever the login page would fetch next
    foreign = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != origin]
    assert not foreign, foreign
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert "登录" in page.inner_text("body")
    page.close()


def test_index_table_filters_and_sorts(site_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(site_url + "communities/")
    rows = page.locator(".gz-table tbody tr")
    total = rows.count()
    assert total >= 5
    first_name = rows.first.locator("td").first.inner_text()
    texts = rows.all_inner_texts()
    expected = [t for t in texts if first_name in t]
    # the first row always matches; some rows must not, or hiding them would go untested
    assert len(expected) < total
    page.get_by_label("筛选村社：").fill(first_name)
    visible = page.locator(".gz-table tbody tr:not([hidden])")
    # exactly the rows that contain the text stay, in their order
    assert visible.all_inner_texts() == expected
    page.get_by_label("筛选村社：").fill("")
    assert page.locator(".gz-table tbody tr:not([hidden])").count() == total

    # sort by the grid count, descending on the second click
    header = page.locator(".gz-table thead th button", has_text="网格").first
    header.click()
    header.click()
    column = [h.inner_text() for h in page.locator(".gz-table thead th").all()].index("网格")
    values = [int(r.locator("td").nth(column).inner_text().replace(",", "")) for r in rows.all()]
    assert values == sorted(values, reverse=True)
    assert page.locator(".gz-table thead th").nth(column).get_attribute("aria-sort") == "descending"
    page.close()


def test_everything_works_without_javascript(site_url: str, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site_url + "communities/")
    rows = page.locator(".gz-table tbody tr")
    assert rows.count() >= 5
    assert page.locator(".gz-filter").count() == 0  # the filter is added by JS only
    href = rows.first.locator("a").first.get_attribute("href")
    page.goto(page.evaluate("(h) => new URL(h, location.href).href", href))
    assert page.locator("article h1").count() == 1
    context.close()


def test_community_page_fits_a_phone(site_url: str, browser) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(_first_link(page, site_url + "communities/"))
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 361, width
    context.close()


def test_pages_print_on_a4_without_the_site_chrome(site_url: str, browser) -> None:
    page = browser.new_page()
    page.goto(_first_link(page, site_url + "meetings/"))
    page.emulate_media(media="print")
    assert page.locator(".md-header").evaluate("e => getComputedStyle(e).display") == "none"
    assert page.locator(".md-sidebar--primary").evaluate("e => getComputedStyle(e).display") == "none"
    assert page.locator(".md-banner").is_visible()  # the sample-data notice prints too
    assert page.locator("article h1").is_visible()
    pdf = page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    page.close()
