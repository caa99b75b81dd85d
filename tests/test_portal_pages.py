"""Structural checks of the built portal: every page type, links, values as text, open data.

The sample data (data/) is copied and built once per module into a temporary folder (its own
docs folder too, so nothing in the working tree is touched). The hostile-value build copies
the sample and puts HTML and Markdown syntax into every name, title and text field.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from generator.build import build

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data"
TODAY = dt.date(2026, 11, 28)

HOSTILE_SHORT = "<i>斜</i>**粗**[链](javascript:a)"
HOSTILE_LONG = (
    '<script>alert("x")</script><b>加粗</b> **粗体** _斜体_ [点我](javascript:alert(1)) '
    "![图](http://evil.example/x.png) | 表格 | `代码` <img src=x onerror=alert(1)> &amp; {: .x}"
)
SHORT_KEYS = {"name", "title", "subject", "place", "meeting_place", "area_note", "issuer", "doc_number"}
LONG_KEYS = {"summary", "outcome", "citation", "office_address", "consultation_centre_address"}


def _build(data: Path, tmp: Path, name: str) -> Path:
    out = tmp / name / "site"
    build(data, out, docs_dir=tmp / name / "docs", today=TODAY, index=False)
    return out


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("portal")
    data = tmp / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("cases"))
    return _build(data, tmp, "sample")


def _poison(value: object, key: str) -> object:
    if not isinstance(value, str):
        return value
    if key == "outcome" and len(value) <= 5:  # a decision's outcome is a vocabulary word
        return value
    if key in LONG_KEYS:
        return value[:4] + HOSTILE_LONG
    if key in SHORT_KEYS:
        return value[:2] + HOSTILE_SHORT
    return value


def _poison_tree(node: object) -> object:
    if isinstance(node, dict):
        return {k: _poison_tree(_poison(v, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_poison_tree(v) for v in node]
    return node


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    data = tmp / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("cases"))
    for path in data.rglob("*.yaml"):
        if path.name == "datapackage.yaml" or path.relative_to(data).parts[0].startswith("form"):
            continue  # the forms' own definitions are checked by the forms' tests
        tree = yaml.safe_load(path.read_text("utf-8"))
        path.write_text(yaml.safe_dump(_poison_tree(tree), allow_unicode=True, sort_keys=False), "utf-8")
    return _build(data, tmp, "hostile")


def _soup(site: Path, rel: str) -> BeautifulSoup:
    path = site / rel
    if path.is_dir() or rel.endswith("/") or rel == "":
        path = path / "index.html"
    return BeautifulSoup(path.read_text("utf-8"), "html.parser")


def _first(site: Path, folder: str) -> str:
    """The first entity page in a folder, e.g. "communities/anping/"."""
    names = sorted(p.parent.name for p in (site / folder).glob("*/index.html"))
    assert names, f"no pages in {folder}/"
    return f"{folder}/{names[0]}/"


ENTITY_FOLDERS = ("streets", "communities", "councils", "meetings", "projects", "organisations", "policies", "awards")
INDEX_PAGES = (
    "communities/", "streets/", "councils/", "meetings/", "projects/", "organisations/", "policies/", "awards/",
)


def _page_types(site: Path) -> dict[str, str]:
    pages = {"home": "", "opendata": "opendata/", "tags": "tags/", "tag": _first(site, "tags"),
             "editors": "editors/", "about": "about/", "participate": "participate/"}
    for folder in ENTITY_FOLDERS:
        pages[folder] = _first(site, folder)
    for index in INDEX_PAGES:
        pages[f"index:{index}"] = index
    return pages


# --- every page type -----------------------------------------------------------------------------


def test_every_page_type_is_chinese_with_one_heading_and_the_sample_banner(sample_site: Path) -> None:
    for kind, rel in _page_types(sample_site).items():
        soup = _soup(sample_site, rel)
        assert soup.html.get("lang") == "zh", kind
        article = soup.select_one("article")
        assert article is not None, kind
        assert len(article.find_all("h1")) == 1, kind
        banner = soup.select_one(".md-banner")
        assert banner is not None and "示例数据" in banner.get_text(), kind
        # headings are real headings, in order (no h3 directly after the h1)
        levels = [int(h.name[1]) for h in article.find_all(re.compile(r"^h[1-6]$"))]
        assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), (kind, levels)
        # no Markdown left unrendered and no escaped markup leaking as entities
        text = article.get_text(" ")
        assert "&#" not in text and "{%" not in text and "{{" not in text, kind
        assert "title:" not in text, f"front matter shown as text on {kind}"


def test_entity_pages_link_to_their_data_file_and_say_when_it_changed(sample_site: Path) -> None:
    for folder in ENTITY_FOLDERS:
        soup = _soup(sample_site, _first(sample_site, folder))
        box = soup.select_one(".gz-provenance")
        assert box is not None, folder
        edit = box.find("a", string="编辑此数据")
        assert edit is not None, folder
        assert edit["href"].startswith("https://github.com/gongzhi-portal/gongzhi/edit/main/data/"), edit["href"]
        assert edit["href"].endswith(".yaml")
        assert re.search(r"最后更新：\d{4}年\d{1,2}月\d{1,2}日", box.get_text()), folder


def test_index_pages_are_sortable_tables_and_not_in_the_nav(sample_site: Path) -> None:
    for rel in INDEX_PAGES:
        soup = _soup(sample_site, rel)
        table = soup.select_one(".gz-table table")
        assert table is not None, rel
        assert table.find("thead") is not None and table.find("tbody").find_all("tr"), rel
        assert soup.find("script", src=re.compile(r"assets/tables\.js$")), rel
    # the nav stays small: no community page is a nav entry anywhere
    community = _soup(sample_site, _first(sample_site, "communities"))
    nav_links = community.select("nav.md-nav--primary a.md-nav__link")
    assert 0 < len(nav_links) < 40
    assert not any("/communities/" in (a.get("href") or "") and a["href"].rstrip("/").split("/")[-1] not in ("communities", "..")
                   for a in nav_links if a.get_text(strip=True) not in ("村社",))


def test_home_shows_district_kpis_with_computed_coverage(sample_site: Path) -> None:
    soup = _soup(sample_site, "")
    text = soup.select_one("article").get_text(" ")
    communities = list((SAMPLE / "communities").glob("*.yaml"))
    with_centre = sum(1 for p in communities if yaml.safe_load(p.read_text("utf-8")).get("consultation_centre"))
    coverage = f"{with_centre / len(communities) * 100:.1f}%"
    assert "邻里协商议事中心覆盖率" in text and coverage in text
    assert f"{len(communities)} 个" in text
    grids = sum(len(yaml.safe_load(p.read_text("utf-8")).get("grids") or []) for p in communities)
    assert f"{grids:,} 个" in text
    assert "最新决议" in text


def test_community_page_has_every_section_and_stays_small(sample_site: Path) -> None:
    for page in sorted((sample_site / "communities").glob("*/index.html")):
        if page.parent.name == "communities":
            continue
        assert page.stat().st_size <= 50_000, (page, page.stat().st_size)
    soup = _soup(sample_site, _first(sample_site, "communities"))
    headings = [h.get_text(strip=True) for h in soup.select("article h2")]
    for section in ("基本情况", "网格", "一核多元", "议事协商", "项目", "参与方式"):
        assert section in headings, (section, headings)
    assert soup.select("article h3")[0].get_text(strip=True).startswith("一核")


def test_long_lists_fold_behind_their_count_and_short_ones_do_not(sample_site: Path) -> None:
    soup = _soup(sample_site, "communities/xinfeng/index.html")  # 15 grids (no case records here)
    folds = soup.select("article details.gz-fold")
    assert [d.summary.get_text(strip=True) for d in folds] == ["共 15 个网格（展开查看）"]
    assert all(len(d.select("tbody tr")) == 15 for d in folds)  # the rows are in the page
    assert folds[0].find_previous("h2").get_text(strip=True) == "网格"
    small = _soup(sample_site, "communities/sanqiao/index.html")  # 5 grids
    assert small.select("article details.gz-fold") == [] and small.select("article table")
    council = _soup(sample_site, "councils/xinfeng-council/index.html")
    members = council.select_one("article details.gz-fold")
    count = len(members.select("tbody tr"))
    assert count > 6 and members.summary.get_text(strip=True) == f"共 {count} 名成员（展开查看）"


def test_meeting_page_shows_the_decision_chain_linked_to_project(sample_site: Path) -> None:
    found = False
    for page in sorted((sample_site / "meetings").glob("*/index.html")):
        soup = BeautifulSoup(page.read_text("utf-8"), "html.parser")
        for chain in soup.select("ol.gz-chain"):
            steps = [li.get_text(" ", strip=True) for li in chain.find_all("li", recursive=False)]
            assert [s.split("：")[0].strip() for s in steps] == ["议题", "协商", "决议", "实施", "评议"]
            link = chain.find("a", href=re.compile(r"projects/"))
            if link is not None:
                found = True
                target = (page.parent / link["href"]).resolve()
                assert (target / "index.html").is_file() or target.is_file()
    assert found, "no decision in the sample links to its project"


def test_project_page_shows_budget_against_spent_and_milestones(sample_site: Path) -> None:
    soup = _soup(sample_site, _first(sample_site, "projects"))
    headings = [h.get_text(strip=True) for h in soup.select("article h2")]
    assert {"预算与支出", "进度", "评议"} <= set(headings)
    text = soup.select_one("article").get_text(" ")
    assert re.search(r"\d[\d,.]* (万元|元)", text)


def test_policy_index_groups_by_issuer_year_and_tag(sample_site: Path) -> None:
    soup = _soup(sample_site, "policies/")
    headings = [h.get_text(strip=True) for h in soup.select("article h2")]
    assert {"按发文机关", "按年份"} <= set(headings)
    assert any(re.fullmatch(r"\d{4}年", h.get_text(strip=True)) for h in soup.select("article h3"))


def test_tag_pages_for_the_three_governances(sample_site: Path) -> None:
    soup = _soup(sample_site, "tags/")
    names = [a.get_text(strip=True) for a in soup.select("article table a")]
    for tag in ("自治", "法治", "德治"):
        assert tag in names


# --- links and requests --------------------------------------------------------------------------


def _targets(soup: BeautifulSoup) -> list[tuple[str, str]]:
    found = []
    for tag, attr in (("a", "href"), ("link", "href"), ("script", "src"), ("img", "src"), ("iframe", "src"),
                      ("source", "src"), ("form", "action")):
        for el in soup.find_all(tag):
            if el.get(attr):
                found.append((tag, el[attr]))
    return found


def el_rel(soup: BeautifulSoup, url: str) -> list[str]:
    rels: list[str] = []
    for el in soup.find_all("link", href=url):
        rels.extend(el.get("rel") or [])
    return rels


def test_no_broken_internal_links_and_no_third_party_resources(sample_site: Path) -> None:
    pages = sorted(sample_site.rglob("*.html"))
    assert len(pages) > 50
    ids_cache: dict[Path, set[str]] = {}
    broken = []
    for page in pages:
        soup = BeautifulSoup(page.read_text("utf-8"), "html.parser")
        for tag, url in _targets(soup):
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "mailto", "tel") or url.startswith("//"):
                # links may leave the site; resources (styles, scripts, images) may not
                if tag == "link" and not ({"stylesheet", "preload", "modulepreload", "icon", "prefetch",
                                           "manifest", "preconnect", "dns-prefetch"} & set(el_rel(soup, url))):
                    continue  # rel="canonical" and the like name a URL, they do not load it
                assert tag in ("a", "form"), f"{page}: {tag} loads {url} from another origin"
                continue
            if parts.scheme:
                broken.append((page, url))  # javascript:, data: ...
                continue
            if parts.path.startswith("/"):  # site-absolute (the 404 page uses these)
                target = (sample_site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.relative_to(sample_site), url))
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in ids_cache:
                    ids_cache[target] = {el["id"] for el in BeautifulSoup(target.read_text("utf-8"), "html.parser").find_all(id=True)}
                if parts.fragment not in ids_cache[target] and parts.fragment != "__skip":
                    broken.append((page.relative_to(sample_site), url))
    assert not broken, broken[:20]


# --- values are text -----------------------------------------------------------------------------


def test_hostile_values_show_as_literal_text_on_every_page_type(hostile_site: Path) -> None:
    checked = 0
    for kind, rel in _page_types(hostile_site).items():
        soup = _soup(hostile_site, rel)
        article = soup.select_one("article")
        text = article.get_text("")
        # nothing from the data became markup
        assert not article.find("script"), kind
        assert not article.find("img", src="x"), kind
        assert not article.find("img", src=re.compile("evil")), kind
        assert not article.find("a", href=re.compile(r"^\s*javascript:", re.I)), kind
        assert not [el for el in article.find_all(["i", "em"]) if el.get_text() in ("斜", "斜体")], kind
        assert not [el for el in article.find_all(["b", "strong"]) if el.get_text() in ("粗", "粗体", "加粗")], kind
        assert not article.find("code", string="代码"), kind
        # ... and it is all there, character for character, as text
        if kind in ("about", "participate", "editors", "tags", "opendata"):
            continue
        assert "<i>斜</i>**粗**[链](javascript:a)" in text or '<script>alert("x")</script>' in text, kind
        checked += 1
    assert checked >= 15
    # the page title (tab, header) is safe too
    community = _soup(hostile_site, _first(hostile_site, "communities"))
    assert "<i>" not in str(community.title) and "＜i＞斜" in community.title.get_text()
    for page in hostile_site.rglob("*.html"):
        html = page.read_text("utf-8")
        assert 'alert("x")</script>' not in html and "onerror=alert" not in html.replace("onerror&#61;", ""), page


def test_hostile_values_keep_tables_intact(hostile_site: Path) -> None:
    soup = _soup(hostile_site, "communities/")
    table = soup.select_one(".gz-table table")
    header = len(table.select("thead th"))
    for row in table.select("tbody tr"):
        assert len(row.find_all("td")) == header


# --- open data -----------------------------------------------------------------------------------


def test_open_data_offers_every_table_as_csv_and_json(sample_site: Path) -> None:
    package = json.loads((sample_site / "data" / "datapackage.json").read_text("utf-8"))
    names = [r["name"] for r in package["resources"]]
    for required in ("districts", "streets", "communities", "grids", "organisations", "councils", "memberships",
                     "meetings", "agenda_items", "decisions", "projects", "milestones", "evaluations",
                     "policies", "awards", "award_winners"):
        assert required in names
    page = _soup(sample_site, "opendata/")
    hrefs = {a["href"] for a in page.select("article a")}
    communities = list((SAMPLE / "communities").glob("*.yaml"))
    for resource in package["resources"]:
        csv_file = sample_site / "data" / resource["path"]
        assert csv_file.is_file()
        with open(csv_file, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == [f["name"] for f in resource["schema"]["fields"]]
        assert any(h.endswith(f"data/{resource['name']}.csv") for h in hrefs), resource["name"]
        if resource["name"] != "cases":
            records = json.loads((sample_site / "data" / f"{resource['name']}.json").read_text("utf-8"))
            assert len(records) == len(rows) - 1
        if resource["name"] == "communities":
            assert len(rows) - 1 == len(communities)


def test_open_data_package_validates_with_frictionless(sample_site: Path) -> None:
    from frictionless import Package

    package = Package(str(sample_site / "data" / "datapackage.json"))
    report = package.validate()
    errors = [e.message for task in report.tasks for e in task.errors][:5]
    assert report.valid, errors


# --- long lists ----------------------------------------------------------------------------------


def test_long_lists_are_split_by_street_into_short_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import portal

    monkeypatch.setattr(portal, "INDEX_ROWS", 12)  # the sample's lists are longer: split them
    monkeypatch.setattr(portal, "RECENT_ON_INDEX", 5)
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("cases"))
    site = _build(data, tmp_path, "split")
    meetings = sorted(p.stem for p in (data / "meetings").rglob("*.yaml"))

    def rows(soup: BeautifulSoup) -> list[list[str]]:
        return [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in soup.select("table tbody tr")]

    def links(soup: BeautifulSoup, at: Path, folder: str) -> list[str]:
        """The pages in ``folder`` the page's tables link to (their names)."""
        found = []
        for a in soup.select("table a[href]"):
            target = (at / a["href"]).resolve().relative_to(site.resolve()).as_posix()
            if target.startswith(folder) and "by-street" not in target:
                found.append(target[len(folder):].strip("/"))
        return found

    index = _soup(site, "meetings/")
    parts = [a["href"] for a in index.select("table a[href*='by-street/']")]
    assert parts, "the index lists the streets"
    counts = {r[0]: int(r[1]) for r in rows(index) if len(r) == 2}
    assert sum(counts.values()) == len(meetings)
    assert len(rows(index)) - len(counts) == 5  # and the five most recent meetings
    listed: list[str] = []
    for href in parts:
        page = (site / "meetings" / href).resolve()
        soup = BeautifulSoup((page / "index.html").read_text("utf-8"), "html.parser")
        street = soup.find("h1").get_text(strip=True).split("·")[-1].strip()
        found = links(soup, page, "meetings/")
        assert len(found) == counts[street] and found, (href, street)
        listed += found
        assert soup.find("a", string=re.compile("返回全部会议")) is not None
    assert sorted(listed) == meetings  # every meeting on exactly one street's page

    organisations = _soup(site, "organisations/")
    assert organisations.find("a", string="区级") is not None or all(
        "by-street/district" not in a["href"] for a in organisations.select("a[href]"))
    assert links(_soup(site, "communities/"), site / "communities", "streets/")  # a street's page lists its communities
    assert not rows(_soup(site, "communities/"))[0][0].startswith("新丰")  # streets, not communities
