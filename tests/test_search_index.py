"""The search stage without a browser: pinyin keys, CJK spacing, and what Pagefind indexes.

The index is read back from Pagefind's own fragment files (gzip of ``pagefind_dcd`` + JSON, one
per page), so these tests see exactly the text, filters and metadata a browser would get.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from generator.build import BuildError
from generator.search import (
    SearchIndexError,
    core_name,
    index_site,
    page_info,
    pagefind_executable,
    pinyin_keys,
    pinyin_text,
    place_hash,
    place_keys,
    place_lists,
    spaced_cjk,
    spaced_html,
)

# --------------------------------------------------------------------------- pinyin


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("临平街道", ["linpingjiedao", "lpjd", "linping", "lp"]),
        ("南苑街道", ["nanyuanjiedao", "nyjd", "nanyuan", "ny"]),
        ("新丰村", ["xinfengcun", "xfc", "xinfeng", "xf"]),
        ("安平社区", ["anpingshequ", "apsq", "anping", "ap"]),
    ],
)
def test_pinyin_keys_full_and_initials(name: str, expected: list[str]) -> None:
    assert pinyin_keys(name) == expected


def test_pinyin_keys_place_name_readings_and_u_umlaut() -> None:
    keys = pinyin_keys("朝阳社区")
    assert {"chaoyang", "zhaoyang", "cy", "zy"} <= set(keys)
    keys = pinyin_keys("绿城社区")
    assert {"lvcheng", "lucheng", "lc"} <= set(keys)  # ü typed as v, or as u


def test_pinyin_keys_skip_names_without_chinese_and_deduplicate() -> None:
    assert pinyin_keys("ABC") == []
    assert pinyin_keys("") == []
    assert pinyin_keys(["临平街道", "临平街道"]) == pinyin_keys("临平街道")
    assert pinyin_text(["临平街道", "南苑街道"]).split() == pinyin_keys("临平街道") + pinyin_keys("南苑街道")


def test_core_name_keeps_short_names() -> None:
    assert core_name("临平街道") == "临平"
    assert core_name("东湖街道") == "东湖"
    assert core_name("新村") == "新村"  # two characters: the suffix is the name
    assert core_name("塘栖镇") == "塘栖"


# --------------------------------------------------------------------------- spacing


def test_spaced_cjk_separates_every_cjk_character_and_keeps_words() -> None:
    assert spaced_cjk("专职网格员84名").split() == ["专", "职", "网", "格", "员", "84", "名"]
    assert spaced_cjk("临政法〔2025〕7号").split() == ["临", "政", "法", "〔", "2025", "〕", "7", "号"]
    assert spaced_cjk("linping lp") == "linping lp"


def test_spaced_html_rewrites_text_in_the_body_only() -> None:
    html = (
        '<html lang="zh"><nav>导航栏</nav><main data-pagefind-body>'
        '<h1 title="标题属性">安平社区</h1>'
        '<span data-pagefind-filter="街道:临平街道"></span><p>网格员</p></main></html>'
    )
    out = spaced_html(html)
    assert "<nav>导航栏</nav>" in out  # before the body: never indexed, left alone
    assert 'title="标题属性"' in out and 'data-pagefind-filter="街道:临平街道"' in out
    assert "> 安 平 社 区 <" in out and "> 网 格 员 <" in out


# --------------------------------------------------------------------------- indexing


PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<header>页眉导航 共治门户</header>
<nav><a href="/">首页</a> 侧栏目录</nav>
<article class="md-content__inner md-typeset"><div data-pagefind-body>
<h1 id="t">{title}<a class="headerlink" href="#t">¶</a></h1>
{body}
<div class="gz-provenance"><p>数据来源：data/x.yaml 第 1 行 · 编辑此数据</p></div>
<span class="gz-search-meta" hidden data-pagefind-filter="类型:{kind}" data-pagefind-meta="type:{kind}"></span>
</div></article>
<footer>页脚版权</footer>
</body></html>
"""


def _write(site: Path, path: str, title: str, body: str, kind: str) -> None:
    target = site / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(PAGE.format(title=title, body=body, kind=kind), encoding="utf-8")


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("search") / "site"
    _write(
        site,
        "communities/anping/index.html",
        "安平社区",
        '<p>共 13 个网格，专职网格员 13 名。</p>'
        '<div class="gz-search-meta" hidden aria-hidden="true">'
        '<span data-pagefind-filter="街道:临平街道" data-pagefind-meta="street:临平街道"></span>'
        f'<span data-pagefind-weight="7">{pinyin_text("安平社区")}</span></div>',
        "社区",
    )
    _write(site, "policies/grid/index.html", "网格服务管理办法", "<p>文号：临政法〔2025〕7号。</p>", "政策")
    (site / "404.html").write_text('<html lang="zh"><body><h1>页面不存在</h1></body></html>', "utf-8")
    return site


def _fragments(bundle: Path) -> dict[str, dict]:
    pages = {}
    for path in (bundle / "fragment").iterdir():
        raw = gzip.decompress(path.read_bytes())
        assert raw.startswith(b"pagefind_dcd")
        fragment = json.loads(raw[len(b"pagefind_dcd") :])
        pages[fragment["url"]] = fragment
    return pages


def _words(text: str) -> str:
    return text.replace("\u200b", "").replace(" ", "")


def test_index_site_indexes_content_only_in_chinese(small_site: Path) -> None:
    report = index_site(small_site)
    assert report.pages == 2  # the 404 page has no data-pagefind-body
    assert report.languages == {"zh": 2}
    assert report.warnings == []
    assert report.bundle_dir == small_site / "pagefind"
    assert (small_site / "pagefind" / "pagefind.js").is_file()
    assert report.bundle_bytes > 0 and report.bundle_files > 5

    pages = _fragments(small_site / "pagefind")
    assert set(pages) == {"/communities/anping/", "/policies/grid/"}
    community = pages["/communities/anping/"]
    content = _words(community["content"])
    assert "专职网格员13名" in content
    assert "anpingshequ" in content and "apsq" in content  # pinyin keys are indexed
    for boilerplate in ("页眉导航", "侧栏目录", "页脚版权", "数据来源", "编辑此数据", "¶"):
        assert boilerplate not in content
    assert _words(community["meta"]["title"]) == "安平社区"
    assert community["meta"]["street"] == "临平街道"  # attributes keep their exact text
    assert community["filters"] == {"类型": ["社区"], "街道": ["临平街道"]}
    assert "临政法〔2025〕7号" in _words(pages["/policies/grid/"]["content"])


def test_index_site_lists_filter_values_for_the_search_box(small_site: Path) -> None:
    index_site(small_site)
    listed = json.loads((small_site / "pagefind" / "gongzhi-filters.json").read_text("utf-8"))
    assert listed == {"pages": 2, "filters": {"类型": {"社区": 1, "政策": 1}, "街道": {"临平街道": 1}}}


def test_index_site_each_cjk_character_is_a_word(small_site: Path) -> None:
    index_site(small_site)
    community = _fragments(small_site / "pagefind")["/communities/anping/"]
    words = [w for w in community["content"].replace("\u200b", " ").split() if w]
    assert all(len(w) == 1 for w in words if "\u4e00" <= w[0] <= "\u9fff")


def test_index_site_replaces_the_old_bundle_and_leaves_no_staging(small_site: Path) -> None:
    stale = small_site / "pagefind" / "stale.txt"
    stale.parent.mkdir(exist_ok=True)
    stale.write_text("old", "utf-8")
    index_site(small_site)
    assert not stale.exists()
    leftovers = [p.name for p in small_site.parent.iterdir() if p.name.startswith(".pagefind")]
    assert leftovers == []
    assert not (small_site / "pages").exists()


def test_index_site_warns_when_no_page_marks_its_content(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<html lang="en"><body><p>hello</p></body></html>', "utf-8")
    report = index_site(site)
    assert any("data-pagefind-body" in w for w in report.warnings)
    assert any("未按中文分词" in w and "en" in w for w in report.warnings)


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_index_site_refuses_a_folder_without_a_site(tmp_path: Path, kind: str) -> None:
    site = tmp_path / "site"
    if kind == "empty":
        site.mkdir()
    with pytest.raises(SearchIndexError) as caught:
        index_site(site)
    assert isinstance(caught.value, BuildError)  # gongzhi build reports it like any stage
    assert "gongzhi build" in str(caught.value)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo 索引出错 >&2; exit 3", ["退出码 3", "索引出错"]),
        ("kill -9 $$", ["信号 9", "内存不足"]),  # what the kernel's OOM killer does
    ],
)
def test_a_failed_run_says_why_and_keeps_the_previous_index(
    small_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, expected: list[str]
) -> None:
    index_site(small_site)
    entry = (small_site / "pagefind" / "pagefind-entry.json").read_text("utf-8")
    fake = tmp_path / "pagefind"
    fake.write_text(f"#!/bin/sh\n{script}\n", "utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr("generator.search.pagefind_executable", lambda: fake)
    with pytest.raises(SearchIndexError) as caught:
        index_site(small_site)
    for text in expected:
        assert text in str(caught.value)
    assert (small_site / "pagefind" / "pagefind-entry.json").read_text("utf-8") == entry
    assert not [p for p in small_site.parent.iterdir() if p.name.startswith(".pagefind")]


# --------------------------------------------------------------------------- shards

STREETS = {  # street slug → (street name, its communities: slug → name)
    "s001": ("临平街道", {"anping": "安平社区", "xinfeng": "新丰社区"}),
    "s002": ("南苑街道", {"chujia": "褚家社区"}),
    "s003": ("东湖街道", {"hongfeng": "红丰村"}),
}


def _street_meta(street: str, name: str) -> str:
    return (
        '<div class="gz-search-meta" hidden aria-hidden="true">'
        f'<span data-pagefind-filter="街道:{street}" data-pagefind-meta="street:{street}"></span>'
        f'<span data-pagefind-weight="7">{pinyin_text(name)}</span></div>'
    )


@pytest.fixture(scope="module")
def street_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three streets (a street page, its communities, one council each) and site-wide pages."""
    site = tmp_path_factory.mktemp("shards") / "site"
    for slug, (street, communities) in STREETS.items():
        _write(site, f"streets/{slug}/index.html", street, f"<p>{street}概况。</p>{_street_meta(street, street)}", "街道")
        for cslug, name in communities.items():
            _write(site, f"communities/{cslug}/index.html", name,
                   f"<p>{name}专职网格员。</p>{_street_meta(street, name)}", "社区")
            _write(site, f"councils/{cslug}/index.html", f"{name}议事会",
                   f"<p>{name}议事会讨论加装电梯。</p>{_street_meta(street, '')}", "议事")
    _write(site, "policies/grid/index.html", "网格服务管理办法", "<p>文号：临政法〔2025〕7号。</p>", "政策")
    _write(site, "about/index.html", "关于本站", "<p>本站说明。</p>", "说明")
    return site


def test_plan_shards_packs_whole_streets_under_the_budget(street_site: Path) -> None:
    report = index_site(street_site, shard_pages=5)
    common, *areas = report.shards
    assert (common.id, common.name, common.pages) == ("", "全区", 2)
    # s001 has 5 pages (street + 2 communities + 2 councils); s002 and s003 have 3 each
    assert [(s.id, s.streets, s.pages) for s in areas] == [
        ("area-s001", ("临平街道",), 5),
        ("area-s002", ("南苑街道",), 3),
        ("area-s003", ("东湖街道",), 3),
    ]
    report = index_site(street_site, shard_pages=6)
    assert [(s.id, s.name, s.pages) for s in report.shards[1:]] == [
        ("area-s001", "临平街道", 5),
        ("area-s002", "南苑街道等 2 个街道", 6),
    ]
    manifest = json.loads((street_site / "pagefind" / "gongzhi-shards.json").read_text("utf-8"))
    assert [s["streets"] for s in manifest["shards"]] == [[0, 1], [1, 2]]
    # a street larger than the budget is a shard of its own, never split
    report = index_site(street_site, shard_pages=2)
    assert [s.pages for s in report.shards[1:]] == [5, 3, 3]
    # a site that fits the budget is one index
    report = index_site(street_site, shard_pages=100)
    assert [(s.id, s.pages) for s in report.shards] == [("", 13)]
    assert not [p for p in (street_site / "pagefind").iterdir() if p.name.startswith("area-")]


def test_sharded_layout_on_disk(street_site: Path) -> None:
    report = index_site(street_site, shard_pages=5)
    assert report.pages == 13 and report.languages == {"zh": 13}
    bundle = street_site / "pagefind"
    manifest = json.loads((bundle / "gongzhi-shards.json").read_text("utf-8"))
    assert manifest["version"] == 1 and manifest["pages"] == 13 and manifest["shard_pages"] == 5
    assert manifest["common"] == {"id": "", "path": "", "name": "全区", "pages": 2}
    assert [(s["id"], s["path"], s["name"], s["pages"], s["streets"]) for s in manifest["shards"]] == [
        ("area-s001", "area-s001/", "临平街道", 5, [0, 1]),  # streets: [first, count]
        ("area-s002", "area-s002/", "南苑街道", 3, [1, 1]),
        ("area-s003", "area-s003/", "东湖街道", 3, [2, 1]),
    ]
    assert manifest["streets"] == ["临平街道", "南苑街道", "东湖街道"]
    # the common bundle carries Pagefind's runtime and only the site-wide pages
    assert (bundle / "pagefind.js").is_file() and any(bundle.glob("wasm.*.pagefind"))
    assert set(_fragments(bundle)) == {"/policies/grid/", "/about/"}
    # an area bundle: its streets' pages, its own filters, no second copy of the runtime
    for shard in manifest["shards"]:
        area = bundle / shard["id"]
        assert (area / "pagefind-entry.json").is_file() and any(area.glob("*.pf_meta"))
        assert not any(area.glob("pagefind*.js")) and not any(area.glob("wasm.*"))
        street = manifest["streets"][shard["streets"][0]]
        fragments = _fragments(area)
        assert fragments and {f["filters"]["街道"][0] for f in fragments.values()} == {street}
        listed = json.loads((area / "gongzhi-filters.json").read_text("utf-8"))
        assert listed["pages"] == shard["pages"] and list(listed["filters"]["街道"]) == [street]
    assert "/communities/chujia/" in _fragments(bundle / "area-s002")
    assert not [p for p in street_site.parent.iterdir() if p.name.startswith(".pagefind")]


def test_place_keys() -> None:
    assert place_keys("褚家社区") == {"h褚家", "icj", "icjs", "fchuj", "fchujia", "fchujiash"}
    assert place_keys("新丰村") >= {"h新丰", "ixf", "fxinf"}  # 新 begins names: it stays a key
    assert {k for k in place_keys("南苑街道") if k[0] == "h"} == {"h南苑"}
    assert {k for k in place_keys("东湖新城社区") if k[0] == "h"} == {
        "h东湖", "h湖新", "h新城", "h东湖新", "h湖新城"}
    assert not any(k.startswith("h") for k in place_keys("社区"))  # suffix characters alone


def test_place_hash_is_fnv1a_over_utf16() -> None:
    assert place_hash("") == 0x811C9DC5
    assert place_hash("a") == 0xE40C292C  # FNV-1a 32 of one unit 0x61
    assert place_hash("h褚家") != place_hash("h家褚")


def test_place_name_buckets(street_site: Path) -> None:
    report = index_site(street_site, shard_pages=5)
    assert report.places == 7  # 3 streets and 4 communities
    bundle = street_site / "pagefind"
    manifest = json.loads((bundle / "gongzhi-shards.json").read_text("utf-8"))
    count = manifest["places"]["buckets"]
    assert manifest["places"]["count"] == 7 and count == report.place_buckets
    assert count & (count - 1) == 0  # a power of two
    files = {p.name for p in (bundle / "gongzhi-places").iterdir()}
    assert files == {f"{n}.json" for n in range(count)}  # every bucket exists: no 404

    def bucket(key: str) -> list[list]:
        number = place_hash(key) % count
        return json.loads((bundle / "gongzhi-places" / f"{number}.json").read_text("utf-8"))

    chujia = ["褚家社区", "communities/chujia/", "社区", 1, "chujiashequ cjsq chujia cj"]
    for key in ("h褚家", "icj", "icjs", "fchuj", "fchujia", "fchujiash"):
        assert chujia in bucket(key), key
    street = ["南苑街道", "streets/s002/", "街道", 1, "nanyuanjiedao nyjd nanyuan ny"]
    assert street in bucket("iny") and street in bucket("fnany")
    assert report.place_bucket_max_bytes < 2000


def test_place_name_buckets_are_kept_while_the_places_are_the_same(
        street_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The place-name finder's files are kept with the page cache: the same places, the same
    files, without spelling a name again; a renamed place makes them again."""
    from generator import search

    cache = tmp_path / "cache" / "pages.pickle"
    index_site(street_site, shard_pages=5, page_cache=cache)
    folder = street_site / "pagefind" / "gongzhi-places"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ranked = search._ranked

    def spelled(chosen):
        raise AssertionError("spelled again")

    monkeypatch.setattr(search, "_ranked", spelled)
    report = index_site(street_site, shard_pages=5, page_cache=cache)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before and report.places == 7
    page = street_site / "communities/chujia/index.html"
    page.write_text(page.read_text("utf-8").replace("褚家社区", "褚家村"), "utf-8")
    with pytest.raises(AssertionError, match="spelled again"):
        index_site(street_site, shard_pages=5, page_cache=cache)
    monkeypatch.setattr(search, "_ranked", ranked)
    index_site(street_site, shard_pages=5, page_cache=cache)
    assert "褚家村" in "".join(p.read_text("utf-8") for p in folder.iterdir())


def test_a_place_key_keeps_its_best_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eighteen 村社 share the initials lx: the key keeps the best few (streets first, then
    short names), and longer keys still reach every one."""
    monkeypatch.setattr("generator.search.PLACE_KEY_MAX", 5)
    site = tmp_path / "site"
    _write(site, "streets/s1/index.html", "临溪街道", _street_meta("临溪街道", "临溪街道"), "街道")
    stems = "溪夏霞仙贤祥翔香湘兴星杏秀轩萱雪训迅"
    for i, c in enumerate(stems):
        _write(site, f"communities/c{i}/index.html", f"刘{c}社区", _street_meta("临溪街道", f"刘{c}社区"), "社区")
    pages = [page_info(p.read_text(encoding="utf-8"), p.relative_to(site).as_posix()) for p in site.rglob("*.html")]
    places, lists = place_lists(pages, ["临溪街道"])
    assert places == 19
    assert len(lists["ilx"]) == 5 and lists["ilx"][0][0] == "临溪街道"
    assert len(lists["fliux"]) == 5  # liuxi, liuxia, liuxian …
    for c in stems:  # each still reachable by its own characters
        assert [e[0] for e in lists["h刘" + c]] == [f"刘{c}社区"]
    assert [e[0] for e in lists["fliuxiu"]] == ["刘秀社区"]


def test_a_site_under_the_single_index_size_keeps_one_index(
    street_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the budgets are SHARD_PAGES per shard and SINGLE_INDEX_PAGES for one index."""
    monkeypatch.delenv("GONGZHI_SEARCH_SHARD_PAGES", raising=False)
    monkeypatch.setattr("generator.search.SHARD_PAGES", 5)
    monkeypatch.setattr("generator.search.SINGLE_INDEX_PAGES", 13)
    assert len(index_site(street_site).shards) == 1  # 13 pages: one index
    monkeypatch.setattr("generator.search.SINGLE_INDEX_PAGES", 12)
    assert [s.pages for s in index_site(street_site).shards] == [2, 5, 3, 3]


def test_shard_budget_from_the_environment(street_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGZHI_SEARCH_SHARD_PAGES", "6")
    assert len(index_site(street_site).shards) == 3
    monkeypatch.setenv("GONGZHI_SEARCH_SHARD_PAGES", "很多")
    with pytest.raises(SearchIndexError, match="GONGZHI_SEARCH_SHARD_PAGES"):
        index_site(street_site)
    with pytest.raises(SearchIndexError, match="正整数"):
        index_site(street_site, shard_pages=0)


def test_a_failed_shard_keeps_the_previous_index(
    street_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second Pagefind run (the first street shard) is killed: nothing of the new index
    is swapped in, and the message names the shard."""
    index_site(street_site, shard_pages=5)
    manifest = (street_site / "pagefind" / "gongzhi-shards.json").read_text("utf-8")
    real = pagefind_executable()
    counter = tmp_path / "runs"
    fake = tmp_path / "pagefind"
    fake.write_text(
        f'#!/bin/sh\necho x >> {counter}\nif [ "$(wc -l < {counter})" -ge 2 ]; then kill -9 $$; fi\nexec {real} "$@"\n',
        "utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setattr("generator.search.pagefind_executable", lambda: fake)
    with pytest.raises(SearchIndexError) as caught:
        index_site(street_site, shard_pages=6)
    assert "临平街道" in str(caught.value) and "内存不足" in str(caught.value)
    assert (street_site / "pagefind" / "gongzhi-shards.json").read_text("utf-8") == manifest
    assert not [p for p in street_site.parent.iterdir() if p.name.startswith(".pagefind")]


def test_a_rebuild_reads_only_new_page_files_and_indexes_only_their_shard(
        street_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next site links its unchanged pages to the last one's (as MkDocs's reuse does) and
    writes one page anew: the search stage reads that page only, runs Pagefind for its shard
    only, leaves the last site's bundle untouched (its unchanged shards are hard links to
    it), and gives the bundle a fresh index gives."""
    import os
    import shutil

    from site_compare import site_files

    from generator import search

    first = tmp_path / "first"
    shutil.copytree(street_site, first, ignore=shutil.ignore_patterns("pagefind"))
    cache = tmp_path / "cache" / "pages.json"
    index_site(first, shard_pages=5, page_cache=cache)
    before = site_files(first)

    second = tmp_path / "second"
    shutil.copytree(first, second, copy_function=os.link, ignore=shutil.ignore_patterns("pagefind"))
    changed = second / "communities/xinfeng/index.html"
    # a new name: the common bundle's place-name finder changes, its pages do not
    text = changed.read_text(encoding="utf-8").replace("新丰社区", "新丰村")
    changed.unlink()  # a new file, as MkDocs writes a page it rendered
    changed.write_text(text, encoding="utf-8")

    reads: list[str] = []
    runs: list[str] = []
    real_read, real_run = search._read_page, search._run_pagefind
    monkeypatch.setattr(search, "_read_page", lambda job: reads.append(job[1]) or real_read(job))
    monkeypatch.setattr(search, "_run_pagefind", lambda *a, **k: runs.append(a[-1]) or real_run(*a, **k))
    report = index_site(second, shard_pages=5, previous_site=first, page_cache=cache)
    assert reads == ["communities/xinfeng/index.html"]
    assert runs == ["临平街道"], runs  # 新丰社区 is in 临平街道 (area-s001)
    assert len(report.shards) == 4
    assert site_files(first) == before  # nothing written through a link
    lent = [p for p in (second / "pagefind" / "area-s002").rglob("*") if p.is_file() and p.name != search.FILTERS_FILE]
    assert lent and all(p.stat().st_ino == (first / p.relative_to(second)).stat().st_ino for p in lent)
    places = "".join(p.read_text(encoding="utf-8") for p in (second / "pagefind/gongzhi-places").glob("*.json"))
    assert "新丰村" in places and "新丰社区" not in places

    fresh = tmp_path / "fresh"
    shutil.copytree(second, fresh, ignore=shutil.ignore_patterns("pagefind"))
    index_site(fresh, shard_pages=5)
    assert site_files(second) == site_files(fresh)
