"""Search as a resident uses it: headless Chromium against the built sample site.

The sample data (data/, without case records) is copied, one test-only policy with a document
number is added (tests/fixtures/search/policies/: no sample policy has one), and the site is
built once for this module with ``gongzhi build``'s pipeline, search index included. It is
served from 127.0.0.1 on a free port; every request the browser makes is recorded and must
stay on that origin.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import ARGS, require_chromium, serve_folder

from generator.build import build
from generator.search import CJK_RANGES, index_site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "search"
TODAY = dt.date(2026, 11, 28)

CHROMIUM = require_chromium()


@pytest.fixture(scope="module")
def search_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("search-site")
    data = tmp / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("cases"))
    shutil.copytree(FIXTURES / "policies", data / "policies", dirs_exist_ok=True)
    site = tmp / "site"
    report = build(data, site, docs_dir=tmp / "docs", today=TODAY)
    assert report.indexed
    return site


@pytest.fixture(scope="module")
def origin(search_site: Path) -> Iterator[str]:
    with serve_folder(search_site) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, origin: str) -> Iterator[Any]:
    """A fresh tab; after the test, every URL it requested must be on the site's own origin."""
    yield from _tab(browser, origin)


def _tab(browser: Any, origin: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.requests = requests
    yield tab
    context.close()
    foreign = [u for u in requests if not u.startswith(origin + "/") and not u.startswith(("data:", "blob:"))]
    assert foreign == [], f"requests left the origin: {foreign}"
    assert errors == [], f"script errors: {errors}"


def _open_search(page: Any, origin: str, start: str = "/communities/anping/") -> None:
    page.goto(origin + start)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement && document.activeElement.id") == "gz-search-input"


def _results(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        ".gz-search-result",
        """items => items.map(li => ({
            href: li.querySelector('a').getAttribute('href'),
            title: li.querySelector('.gz-search-result__title').textContent,
            type: (li.querySelector('.gz-search-result__type') || {}).textContent || '',
            street: (li.querySelector('.gz-search-result__street') || {}).textContent || '',
            excerpt: li.querySelector('.gz-search-result__excerpt').innerHTML,
        }))""",
    )


def _search(page: Any, query: str) -> list[dict[str, str]]:
    """Type a query and wait until the status line reports on exactly this query."""
    page.fill("#gz-search-input", query)
    page.wait_for_function(
        """q => {
            const s = document.getElementById('gz-search-status').textContent;
            return s.includes('“' + q + '”') && (s.includes('找到') || s.includes('没有'));
        }""",
        arg=query,
        timeout=15000,
    )
    return _results(page)


def _path(href: str) -> str:
    return "/" + href.split("://", 1)[-1].split("/", 1)[-1] if "://" in href else href


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("公益创投", "/projects/"),  # 公益创投与善治项目
        ("南苑街道板凳民主评议团", "/councils/nanyuan-bench/"),  # a council's name
        ("安平社区居民议事会", "/councils/anping-council/"),
        ("临政法〔2025〕7号", "/policies/grid-service-measures/"),  # a document number
        ("anping", "/communities/anping/"),  # full pinyin of 安平社区
        ("anpingshequ", "/communities/anping/"),
        ("apsq", "/communities/anping/"),  # initials
        ("linping", "/streets/linping/"),  # 临平街道
        ("lp", "/streets/linping/"),
        ("nanyuan", "/streets/nanyuan/"),
        ("安平社区", "/communities/anping/"),  # the page titled so, before its organisations
    ],
)
def test_query_returns_the_expected_page_first(page: Any, origin: str, query: str, expected_first: str) -> None:
    _open_search(page, origin)
    results = _search(page, query)
    assert results, f"no result for {query}"
    assert _path(results[0]["href"]) == expected_first, [r["href"] for r in results[:5]]


def test_grid_worker_is_found_inside_longer_words(page: Any, origin: str) -> None:
    _open_search(page, origin)
    results = _search(page, "网格员")
    assert "网格员" in results[0]["title"]  # 2024年度“最美网格员”
    # 网格员 inside 专职网格员 on every community page: Chinese segmentation does not hide it.
    communities = page.text_content(".gz-search__chip[data-type='社区']")
    assert communities == "社区 15"
    status = page.text_content("#gz-search-status")
    count = int(status.split("找到 ")[1].split(" ")[0])
    assert count >= 15 + 2  # every community page and both award pages
    # the highlight marks the phrase, the page's text around it unchanged
    assert all("<mark>网格员</mark>" in r["excerpt"] for r in results[:5])


def test_result_shows_title_type_street_and_marked_excerpt(page: Any, origin: str) -> None:
    _open_search(page, origin, "/")
    first = _search(page, "安平社区")[0]
    assert first["title"] == "安平社区"
    assert first["type"] == "社区"
    assert first["street"] == "临平街道"  # a community result shows its street
    assert "<mark>安平社区</mark>" in first["excerpt"]
    assert "\u200b" not in first["excerpt"] and " 平 " not in first["excerpt"]


def test_street_filter(page: Any, origin: str) -> None:
    _open_search(page, origin)
    page.fill("#gz-search-input", "议事")
    page.select_option(".gz-search__street select", "南苑街道")
    page.wait_for_function(
        "() => document.getElementById('gz-search-status').textContent.includes('已筛选')", timeout=15000
    )
    results = _results(page)
    assert results
    assert {r["street"] for r in results} <= {"南苑街道", ""}
    streets = page.eval_on_selector_all(
        ".gz-search-result__street", "els => [...new Set(els.map(e => e.textContent))]"
    )
    assert streets == ["南苑街道"]
    # with the street filter on, a 临平街道 community is not found, and the page offers to clear it
    results = _search(page, "安平社区")
    assert results == []
    assert page.is_visible(".gz-search__clear")
    page.click(".gz-search__clear")
    page.wait_for_function(
        "() => document.querySelectorAll('.gz-search-result').length > 0", timeout=15000
    )
    assert _path(_results(page)[0]["href"]) == "/communities/anping/"


def test_type_filter(page: Any, origin: str) -> None:
    _open_search(page, origin)
    _search(page, "网格员")
    page.click(".gz-search__chip[data-type='社区']")
    page.wait_for_function(
        "() => document.getElementById('gz-search-status').textContent.includes('已筛选')", timeout=15000
    )
    results = _results(page)
    assert len(results) >= 10
    assert {r["type"] for r in results} == {"社区"}


def test_no_result_says_so_and_suggests_browsing_by_street(page: Any, origin: str) -> None:
    _open_search(page, origin)
    assert _search(page, "量子纠缠") == []
    assert "没有找到与“量子纠缠”相关的内容" in page.text_content("#gz-search-status")
    link = page.locator(".gz-search__empty a")
    assert "按街道浏览" in link.text_content()
    link.click()
    page.wait_for_url(origin + "/streets/")


def test_only_content_is_indexed(page: Any, origin: str) -> None:
    """Header, footer, banner, nav and the 数据来源 line are on every page, but not in the index."""
    _open_search(page, origin)
    for boilerplate in ("人名均为虚构", "提出修改", "编辑此数据"):
        results = _search(page, boilerplate)
        assert len(results) <= 2, (boilerplate, [r["href"] for r in results])


def test_keyboard_opens_and_closes_the_search(page: Any, origin: str) -> None:
    page.goto(origin + "/policies/")
    page.keyboard.press("s")
    assert page.evaluate("document.getElementById('__search').checked")
    assert page.evaluate("document.activeElement.id") == "gz-search-input"
    assert page.input_value("#gz-search-input") == ""  # the key opened the search, typed nothing
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('__search').checked")
    page.keyboard.press("/")
    page.keyboard.type("公益创投")
    page.wait_for_selector(".gz-search-result")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('md-search-result__link')")
    page.keyboard.press("Enter")
    page.wait_for_url(origin + "/projects/")


def test_nothing_is_downloaded_until_search_is_used(page: Any, origin: str) -> None:
    page.goto(origin + "/communities/anping/")
    page.wait_for_load_state("networkidle")
    assert not [u for u in page.requests if "/pagefind/" in u]
    _open_search(page, origin)
    _search(page, "网格员")
    fetched = [u for u in page.requests if "/pagefind/" in u]
    assert any(u.endswith("pagefind.js") for u in fetched)
    assert any("/index/" in u for u in fetched) and any("/fragment/" in u for u in fetched)


def test_pinyin_keys_are_indexed_but_hidden(page: Any, origin: str, search_site: Path) -> None:
    html = (search_site / "communities" / "anping" / "index.html").read_text("utf-8")
    assert "anpingshequ" in html  # in the page, for the index
    page.goto(origin + "/communities/anping/")
    assert "anpingshequ" not in page.inner_text("body")  # not shown
    assert not page.is_visible(".gz-search-meta")
    hidden = page.eval_on_selector(
        "div.gz-search-meta", "e => e.hidden && e.getAttribute('aria-hidden') === 'true'"
    )
    assert hidden
    cdp = page.context.new_cdp_session(page)
    tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
    assert any("安平社区" in repr(node.get("name")) for node in tree)
    for key in ("anpingshequ", "apsq"):  # not in any URL either
        assert not any(key in repr(node) for node in tree)  # and not read by screen readers
    # found by its keys, but the excerpt shows the page's words, not the keys
    _open_search(page, origin)
    first = _search(page, "apsq")[0]
    assert _path(first["href"]) == "/communities/anping/"
    assert first["excerpt"].strip()
    for key in ("anpingshequ", "apsq", "anping "):
        assert key not in first["excerpt"], first["excerpt"]


# --------------------------------------------------------------------------- instant navigation

INSTANT_CONFIG = """\
site_name: 共治 · 搜索测试
site_url: http://127.0.0.1:{port}/
use_directory_urls: true
theme:
  name: material
  custom_dir: {theme}
  language: zh
  font: false
  features: [navigation.instant]
plugins: []
extra_css: [assets/search.css]
extra_javascript: [assets/search.js]
"""

INSTANT_PAGES = {
    "index.md": "# 首页\n\n欢迎。\n",
    "streets/index.md": "# 镇街\n\n按街道浏览。\n",
    "a.md": "# 网格工作\n\n专职网格员每天巡查网格。\n",
    "b.md": "# 公益创投\n\n社区公益创投项目的评审办法。\n",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def instant_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A small MkDocs + Material site with navigation.instant, using the portal's theme folder.

    Material's instant navigation only intercepts links found in sitemap.xml, matched with the
    port, so the site is built for the port it is then served on.
    """
    tmp = tmp_path_factory.mktemp("instant")
    port = _free_port()
    for name, text in INSTANT_PAGES.items():
        target = tmp / "docs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    config = tmp / "mkdocs.yml"
    config.write_text(INSTANT_CONFIG.format(theme=ROOT / "site_templates" / "theme", port=port), "utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", str(tmp / "site")],
        check=True,
        env=env,
        capture_output=True,
    )
    index_site(tmp / "site")
    return tmp / "site", port


def test_search_keeps_working_with_instant_navigation(browser: Any, instant_site: tuple[Path, int]) -> None:
    with serve_folder(*instant_site) as origin:
        context = browser.new_context()
        tab = context.new_page()
        try:
            tab.goto(origin + "/")
            tab.evaluate("window.__marker = 1")  # survives only if the page is not reloaded
            tab.keyboard.press("/")
            assert _search(tab, "网格员")[0]["href"].endswith("/a/")
            tab.click(".gz-search-result a")
            tab.wait_for_url(origin + "/a/")
            tab.wait_for_function("() => !document.getElementById('__search').checked")
            assert tab.evaluate("window.__marker") == 1  # instant navigation, no reload
            tab.keyboard.press("/")
            assert tab.evaluate("document.activeElement.id") == "gz-search-input"
            assert _search(tab, "公益创投")[0]["href"].endswith("/b/")
        finally:
            context.close()


# --------------------------------------------------------------------------- sharded index

SHARD_PAGES = 60  # forces one shard per street on the sample site (60–104 pages each)


@pytest.fixture(scope="module")
def sharded_site(search_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same built site, indexed again with a small page budget: the common bundle plus one
    bundle per street (东湖 67, 临平 104, 南苑 71 pages)."""
    site = tmp_path_factory.mktemp("sharded") / "site"
    shutil.copytree(search_site, site, ignore=shutil.ignore_patterns("pagefind"))
    report = index_site(site, shard_pages=SHARD_PAGES)
    assert [s.id for s in report.shards] == ["", "area-donghu", "area-linping", "area-nanyuan"]
    return site


@pytest.fixture(scope="module")
def sharded_origin(sharded_site: Path) -> Iterator[str]:
    with serve_folder(sharded_site) as served:
        yield served


@pytest.fixture
def spage(browser: Any, sharded_origin: str) -> Iterator[Any]:
    """A fresh tab on the sharded site (same checks: no foreign request, no script error)."""
    yield from _tab(browser, sharded_origin)


def _bundles(page: Any) -> set[str]:
    """The area bundles the tab has fetched anything from."""
    return {u.split("/pagefind/", 1)[1].split("/", 1)[0] for u in page.requests
            if "/pagefind/area-" in u}


def _scope(page: Any) -> str:
    return page.eval_on_selector(".gz-search__scope select", "e => e.value")


def _places(page: Any) -> list[dict[str, str]]:
    page.wait_for_timeout(50)
    return page.eval_on_selector_all(
        ".gz-search__places:not([hidden]) .gz-search__place",
        """items => items.map(li => ({
            href: li.querySelector('a').getAttribute('href'),
            name: li.querySelector('.gz-search__place-name').textContent,
            context: li.querySelector('.gz-search__place-context').textContent,
        }))""",
    )


def test_scope_defaults_to_the_street_of_the_page(spage: Any, sharded_origin: str) -> None:
    _open_search(spage, sharded_origin, "/communities/anping/")  # 临平街道
    results = _search(spage, "议事会")
    assert _scope(spage) == "临平街道"
    assert "范围：临平街道" in spage.text_content("#gz-search-status")
    assert _bundles(spage) == {"area-linping"}  # no other street's index was downloaded
    streets = {r["street"] for r in results}
    assert "临平街道" in streets and not streets & {"南苑街道", "东湖街道"}
    # site-wide pages are searched too, and say where they belong
    areas = spage.eval_on_selector_all(".gz-search-result__area", "els => els.map(e => e.textContent)")
    assert set(areas) <= {"临平区"}
    assert spage.text_content(".gz-search__scope option[value='临平街道']") == "临平街道（本页所在）"
    # no worker script: Pagefind runs on the page's thread
    assert not [u for u in spage.requests if "pagefind-worker" in u]


def test_switching_scope_finds_another_streets_pages_and_is_remembered(spage: Any, sharded_origin: str) -> None:
    _open_search(spage, sharded_origin, "/communities/anping/")
    # 褚家社区's council is in 南苑街道: not in the default scope (临平街道)
    results = _search(spage, "褚家社区居民议事会")
    assert "/councils/chujia-council/" not in [_path(r["href"]) for r in results]
    spage.select_option(".gz-search__scope select", "南苑街道")
    spage.wait_for_function(
        "() => document.getElementById('gz-search-status').textContent.includes('范围：南苑街道')", timeout=15000
    )
    results = _results(spage)
    assert _path(results[0]["href"]) == "/councils/chujia-council/"
    assert results[0]["street"] == "南苑街道"  # the result says which street it is in
    assert "area-nanyuan" in _bundles(spage)
    # remembered: a page that belongs to no street opens in the chosen scope
    _open_search(spage, sharded_origin, "/policies/")
    _search(spage, "议事会")
    assert _scope(spage) == "南苑街道"
    # a street's own page still opens in that street
    _open_search(spage, sharded_origin, "/streets/donghu/")
    _search(spage, "议事会")
    assert _scope(spage) == "东湖街道"


def test_filters_work_across_merged_shards(spage: Any, sharded_origin: str) -> None:
    _open_search(spage, sharded_origin, "/policies/")  # no street, nothing remembered: every street
    _search(spage, "网格员")
    assert _scope(spage) == "*"
    assert spage.text_content(".gz-search__chip[data-type='社区']") == "社区 15"  # as with one index
    assert _bundles(spage) == {"area-donghu", "area-linping", "area-nanyuan"}
    spage.select_option(".gz-search__street select", "南苑街道")
    spage.wait_for_function(
        "() => document.getElementById('gz-search-status').textContent.includes('已筛选')", timeout=15000
    )
    streets = spage.eval_on_selector_all(
        ".gz-search-result__street", "els => [...new Set(els.map(e => e.textContent))]"
    )
    assert streets == ["南苑街道"]


@pytest.mark.parametrize("query", ["褚家", "褚家社区", "chujia", "chujiashequ", "cjsq", "cj"])
def test_place_finder_reaches_a_community_in_another_shard(spage: Any, sharded_origin: str, query: str) -> None:
    _open_search(spage, sharded_origin, "/communities/anping/")  # scope 临平街道
    _search(spage, query)
    spage.wait_for_selector(".gz-search__places:not([hidden])", timeout=15000)
    places = _places(spage)
    assert places[0]["name"] == "褚家社区", places
    assert places[0]["context"] == "社区 · 南苑街道"
    assert _bundles(spage) == {"area-linping"}  # found without 南苑街道's index
    spage.click(".gz-search__place a")
    spage.wait_for_url(sharded_origin + "/communities/chujia/")


def test_place_finder_finds_streets_and_keeps_quiet_otherwise(spage: Any, sharded_origin: str) -> None:
    _open_search(spage, sharded_origin, "/communities/anping/")
    _search(spage, "nanyuan")
    assert _places(spage)[0] == {"href": sharded_origin + "/streets/nanyuan/", "name": "南苑街道", "context": "街道"}
    _search(spage, "社区")  # a suffix alone names no place
    assert _places(spage) == []
    _search(spage, "zhenjie")  # 镇街, the index of streets, is a page but not a place
    assert _places(spage) == []
    _search(spage, "网格员")
    assert _places(spage) == []
    _search(spage, "新丰")  # 新 begins names (新村 is a suffix, but 新 alone is no suffix)
    assert _places(spage)[0]["name"] == "新丰社区"
    _search(spage, "xinf")
    assert _places(spage)[0]["name"] == "新丰社区"


def test_no_result_in_a_street_offers_every_street(spage: Any, sharded_origin: str) -> None:
    _open_search(spage, sharded_origin, "/communities/anping/")
    assert _search(spage, "量子纠缠") == []
    empty = spage.text_content(".gz-search__empty")
    assert "只搜索了“临平街道”" in empty and "按街道浏览" in empty
    spage.click(".gz-search__widen")
    spage.wait_for_function(
        "() => document.getElementById('gz-search-status').textContent.includes('范围：全部街道')", timeout=15000
    )
    assert _scope(spage) == "*"
    assert "没有找到与“量子纠缠”相关的内容" in spage.text_content("#gz-search-status")


_RAW_API = """async query => {
    const pagefind = await import('/pagefind/pagefind.js');
    await pagefind.options({ baseUrl: '/' });
    const search = await pagefind.search(query);
    const found = await Promise.all(search.results.slice(0, 20).map(r => r.data()));
    return found.map(d => ({ url: d.url, title: d.meta.title, excerpt: d.excerpt,
                             filters: d.filters, headings: d.sub_results.map(s => s.title) }));
}"""


@pytest.mark.parametrize("query", ["安平社区", "安 平 社 区", "anping"])
def test_raw_pagefind_api_finds_the_page_with_plain_chinese_text(page: Any, origin: str, query: str) -> None:
    """Whoever reads the index through Pagefind's own API gets normal Chinese text back."""
    page.goto(origin + "/")
    found = page.evaluate(_RAW_API, query)
    assert "/communities/anping/" in [r["url"] for r in found], [r["url"] for r in found]
    community = next(r for r in found if r["url"] == "/communities/anping/")
    assert community["title"] == "安平社区"
    assert community["filters"]["街道"] == ["临平街道"]
    for result in found:
        for text in [result["title"], result["excerpt"], *result["headings"]]:
            visible = text.replace("<mark>", "").replace("</mark>", "")
            assert not re.search(f"[{CJK_RANGES}]\\s+[{CJK_RANGES}]", visible), text
    if query != "anping":  # a pinyin query's excerpt is cut around the hidden pinyin keys
        assert "安平社区地处" in community["excerpt"].replace("<mark>", "").replace("</mark>", "")
