"""Benchmark the search stage at the district and province tiers, beside Material's index.

    .venv/bin/python bench/bench_search.py --tier district
    .venv/bin/python bench/bench_search.py --tier province

district: generates the tier with ``gongzhi synth`` (case rows reduced: search does not read
them), builds the portal with ``gongzhi build``'s pipeline (index off), then times the search
stage (``generator.search.index_site``) on its own, measures the bundle on disk, builds the very
same generated docs folder once more with Material's built-in search plugin on to get the size
of its single ``search/search_index.json``, and measures in Chromium, for typical queries on a
fresh tab each, the bytes of every ``pagefind/*`` response (what a phone downloads).

city, province: a full portal build at 3,000 or 25,000 村社 is too slow for this machine, so
the district site's indexed pages are replicated to the tier's page count (the page count per
村社 of the district tier × 3,000 or 25,000): the pages of streets once per copy, with every
street and 村社 name replaced (and pinyin recomputed) and their folders renamed, so each copy
is a set of streets of its own; site-wide pages once. Pages are written without Material's
chrome (only what Pagefind reads) and indexed by the same stage (sharded by street). The
output says that the site is such a replica. Material's index cannot be built at that size
here: its bytes per page from the district tier are scaled to the page count and labelled
估算. Queries start from a 村社 page, so they search that street's shard (and the site-wide
pages); the last query is the name of a 村社 in another shard, which the place-name finder
answers. Bytes are reported raw and as a server with gzip on would send them (JS and JSON
compressed; Pagefind's index files and WebAssembly are gzip already), with their parts:
runtime, Pagefind metadata, our manifest / filters / place buckets, index chunks and fragments.

Before sharding (one Pagefind index) the province tier (332,083 pages) grew past 21 GB of
memory and was killed; sharded, its largest Pagefind run takes about 0.5 GB.

``--shard-pages N`` compares shard sizes (results in ``result-N.json``).

Goals (issue #4): a query transfers at most 1 % of Material's index, and at most 300 KB at the
province tier. Results: stdout and ``bench/out/search-<tier>/result.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the browser settings and static server of the tests

from chromium import ARGS, CHROMIUM, serve_folder  # noqa: E402

from generator.search import SearchIndexError, index_site  # noqa: E402

PYTHON = ROOT / ".venv" / "bin" / "python"
OUT = ROOT / "bench" / "out"
TIER_COMMUNITIES = {"city": 3_000, "province": 25_000}
LIMIT_BYTES = 300 * 1024
LIMIT_SHARE = 0.01


def log(message: str) -> None:
    print(message, flush=True)


def indexed_pages(site: Path) -> list[Path]:
    return [p for p in site.rglob("*.html") if "data-pagefind-body" in p.read_text("utf-8", errors="ignore")]


# --------------------------------------------------------------------------- district


def prepare_district(base: Path, rows: int) -> Path:
    """Synthesise the district tier and build the portal into base/site (search index off)."""
    data = base / "data"
    if not (data / "district.yaml").is_file():
        log("生成区级数据（gongzhi synth）……")
        subprocess.run(
            [str(PYTHON), "-m", "generator.cli", "synth", "--tier", "district", "--out", str(base),
             "--rows", str(rows), "--quiet", "--force"],
            check=True, cwd=ROOT,
        )
    site = base / "site"
    if not (site / "index.html").is_file():
        log("构建区级门户（不建索引）……")
        from generator.build import build

        started = time.perf_counter()
        build(data, site, docs_dir=base / "docs", index=False)
        log(f"  门户构建 {time.perf_counter() - started:.1f} 秒")
    return site


def material_index_bytes(base: Path) -> int:
    """Build the same docs folder with Material's search plugin on; the size of its index."""
    target = base / "site-material-search"
    index = target / "search" / "search_index.json"
    if index.is_file():
        return index.stat().st_size
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    config["docs_dir"] = str(base / "docs")
    config["site_dir"] = str(target)
    config["theme"]["custom_dir"] = str(ROOT / "site_templates" / "theme")
    config["plugins"] = ["search"]
    config["strict"] = False
    config_file = base / "mkdocs-material-search.yml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
    log("用 Material 内置搜索插件构建同一站点（只为量它的索引）……")
    started = time.perf_counter()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [str(PYTHON), "-m", "mkdocs", "build", "-q", "-f", str(config_file)],
        check=True, cwd=ROOT, env=env, capture_output=True,
    )
    log(f"  MkDocs（含内置搜索）{time.perf_counter() - started:.1f} 秒")
    return index.stat().st_size


# --------------------------------------------------------------------------- province


_COMMUNITY_TITLE = re.compile(r"<h1[^>]*>([^<]{2,20}(?:社区|村))</h1>")
_SURNAMES = "东西南北中上下前后新老大小金银石桥塘湖山河溪江港湾田园林庄坊"
_SECOND = "安平和兴丰宁康泰乐福源华盛荣昌隆祥瑞嘉秀美春阳明光星月云霞"


def _name(i: int) -> str:
    """A distinct made-up 村社 stem for copy i (two or three characters)."""
    a, b = divmod(i, len(_SECOND))
    c, a = divmod(a, len(_SURNAMES))
    stem = _SURNAMES[a] + _SECOND[b]
    return stem + (_SECOND[c % len(_SECOND)] if c else "")


_STREET_TITLE = re.compile(r"<h1[^>]*>([^<]{2,20}(?:街道|镇|乡))</h1>")


def _street_of(html: str) -> str | None:
    match = re.search(r'data-pagefind-filter="街道:([^"]*)"', html)
    return match.group(1) if match else None


def prepare_replica(district_site: Path, base: Path, tier_communities: int) -> tuple[Path, int]:
    """Replicate the district site's indexed pages to a larger tier's page count.

    Each copy is another set of streets and 村社: the pages that belong to a street (those
    carrying a street filter) are copied with every street and 村社 name replaced by a made-up
    one and their folder renamed (streets/s001/ → streets/k12-s001/), so the copy's streets
    are shards of their own, as the streets of a real province site would be. Site-wide pages
    (policies, reports, about …) exist once, as on a real site.
    """
    site = base / "site"
    pages = indexed_pages(district_site)
    communities = len(list((district_site / "communities").glob("*/index.html")))
    texts = [(p.relative_to(district_site), _slim(p.read_text("utf-8"))) for p in pages]
    common = [(r, t) for r, t in texts if not _street_of(t)]
    area = [(r, t) for r, t in texts if _street_of(t)]
    target = round(len(area) / max(communities, 1) * tier_communities) + len(common)
    marker = base / "pages.txt"
    if marker.is_file() and marker.read_text().strip() == f"{target} v2" and site.is_dir():
        return site, target
    shutil.rmtree(site, ignore_errors=True)
    names = {m.group(1) for _, t in area if (m := _COMMUNITY_TITLE.search(t) or _STREET_TITLE.search(t))}
    stems = sorted({_stem(n) for n in names if len(n) >= 3}, key=len, reverse=True)
    copies = -(-(target - len(common)) // len(area))
    log(f"生成合成站点：{target} 页（区级 {len(area)} 个街道页面 × {copies} 份，每份换上不同的街道和村社名；"
        f"全站页面 {len(common)} 个只有一份）……")
    from generator.search import pinyin_text

    def write(relative: Path, text: str) -> None:
        out = site / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, "utf-8")

    for relative, text in common:
        write(relative, text)
    written = len(common)
    first_mapping: dict[str, str] = {}
    for copy in range(copies):
        mapping = {stem: _name(copy * len(stems) + i) for i, stem in enumerate(stems)}
        if copy == 0:
            first_mapping = mapping
        pattern = re.compile("|".join(map(re.escape, mapping)))
        for relative, text in area:
            if written >= target:
                break
            text = pattern.sub(lambda m, names=mapping: names[m.group(0)], text)
            text = re.sub(
                r'(<span data-pagefind-weight="7">)[^<]*(</span>)',
                lambda m, t=text: m.group(1) + pinyin_text(_title(t)) + m.group(2),
                text,
            )
            parts = relative.parts
            moved = Path(parts[0], f"k{copy}-{parts[1]}", *parts[2:]) if len(parts) >= 3 else Path(f"k{copy}", *parts)
            write(moved, text)
            written += 1
        if copy % 10 == 0:
            log(f"  {copy + 1}/{copies} 份，{written} 页")
    shutil.copytree(district_site / "assets", site / "assets", dirs_exist_ok=True)
    # One full page (with the header search box) to search from: a 村社 page of the first copy,
    # at the district's path (same depth, so its relative links hold), not itself indexed.
    start_page = next(iter(sorted(district_site.rglob("communities/*/index.html"))))
    html = start_page.read_text("utf-8").replace("data-pagefind-body", "data-gz-not-indexed")
    pattern = re.compile("|".join(map(re.escape, first_mapping)))
    html = pattern.sub(lambda m: first_mapping[m.group(0)], html)
    target_page = site / start_page.relative_to(district_site)
    target_page.parent.mkdir(parents=True, exist_ok=True)
    target_page.write_text(html, "utf-8")
    marker.write_text(f"{target} v2")
    return site, target


def _stem(name: str) -> str:
    for suffix in ("社区", "街道", "村", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _slim(html: str) -> str:
    """The page without Material's chrome (nav, header, footer, scripts): only what Pagefind
    reads. Keeps disk and indexing time in bounds at 300,000 pages; the index is the same."""
    start = html.find("<div data-pagefind-body>")
    end = html.find("</article>", start)
    if start < 0 or end < 0:
        return html
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8"><title></title></head>'
        f"<body><article>{html[start:end]}</article></body></html>"
    )


def _title(html: str) -> str:
    match = re.search(r"<h1[^>]*>([^<]+)</h1>", html)
    return match.group(1) if match else ""


# --------------------------------------------------------------------------- measuring


def measure_queries(site: Path, queries: list[str], start: str) -> list[dict[str, Any]]:
    """For each query, on a fresh browser context (nothing cached): bytes of every pagefind/*
    response, and the time until the status line reports on the query."""
    from playwright.sync_api import sync_playwright

    rows = []
    with serve_folder(site) as origin:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for query in queries:
                context = browser.new_context()
                tab = context.new_page()
                sizes: dict[str, int] = {}
                gzipped: dict[str, int] = {}
                foreign: list[str] = []

                def on_response(response: Any, sizes: dict[str, int] = sizes, gzipped: dict[str, int] = gzipped) -> None:
                    if "/pagefind/" in response.url:
                        try:
                            body = response.body()
                        except Exception:  # noqa: BLE001 - a cancelled request has no body
                            body = b""
                        sizes[response.url] = len(body)
                        # what a server with gzip on sends (deploy/ nginx): JS and JSON
                        # compressed; Pagefind's index files and its wasm are gzip already
                        compressible = re.search(r"\.(js|json)(\?|$)", response.url)
                        gzipped[response.url] = len(gzip.compress(body, 6)) if compressible else len(body)

                tab.on("response", on_response)
                tab.on("request", lambda r, f=foreign: f.append(r.url) if not r.url.startswith(origin) else None)
                tab.goto(origin + start)
                tab.keyboard.press("/")
                began = time.perf_counter()
                tab.fill("#gz-search-input", query)
                tab.wait_for_function(
                    "q => { const s = document.getElementById('gz-search-status').textContent;"
                    " return s.includes('“' + q + '”') && (s.includes('找到') || s.includes('没有')); }",
                    arg=query,
                    timeout=120_000,
                )
                seconds = time.perf_counter() - began
                tab.wait_for_load_state("networkidle")
                status = tab.text_content("#gz-search-status")
                first = tab.eval_on_selector_all(".gz-search-result a", "els => els.slice(0, 1).map(e => e.getAttribute('href'))")
                places = tab.eval_on_selector_all(".gz-search__place-name", "els => els.map(e => e.textContent)")
                scope = tab.eval_on_selector(".gz-search__scope select", "e => e.value") if tab.query_selector(".gz-search__scope select") else None

                def part(pattern: str, table: dict[str, int]) -> int:
                    return sum(v for u, v in table.items() if re.search(pattern, u))

                runtime = r"pagefind(-worker)?\.js|wasm\.|entry\.json"
                meta = r"\.pf_meta"
                ours = r"gongzhi-[a-z]+(\.json|/)"
                rows.append(
                    {
                        "query": query,
                        "scope": scope,
                        "status": status,
                        "first": first[0] if first else None,
                        "places": places,
                        "seconds": round(seconds, 2),
                        "requests": len(sizes),
                        "bytes": sum(sizes.values()),
                        "bytes_gzip_server": sum(gzipped.values()),
                        "bytes_runtime": part(runtime, sizes),
                        "bytes_runtime_gzip": part(runtime, gzipped),
                        "bytes_meta": part(meta, sizes),
                        "bytes_manifest_filters_places": part(ours, sizes),
                        "bytes_manifest_filters_places_gzip": part(ours, gzipped),
                        "bytes_index_and_fragments": sum(sizes.values()) - part(runtime, sizes) - part(meta, sizes) - part(ours, sizes),
                        "worker_loaded": any("pagefind-worker" in u for u in sizes),
                        "foreign_requests": foreign,
                    }
                )
                context.close()
            browser.close()
    return rows


def typical_queries(site: Path, start: Path) -> list[str]:
    """Queries a resident types on a 村社 page: a service word, a programme, the 村社's name,
    its pinyin and initials, and the name of a 村社 far away (another shard: the place-name
    finder answers it)."""
    from generator.search import core_name, pinyin_keys

    name = _title(start.read_text("utf-8")).strip()
    keys = pinyin_keys(core_name(name))
    queries = ["网格员", "公益创投", "加装电梯", name]
    if keys:
        queries += [keys[0], keys[-1]]
    far = sorted(site.glob("communities/*/index.html"))[-1]
    far_name = _title(far.read_text("utf-8")).strip()
    if far_name and far_name != name:
        queries.append(far_name)
    return queries


def refresh_assets(site: Path) -> None:
    """The measured site gets the current search.js and search.css (sites built earlier by
    this benchmark carry the version of their day)."""
    for name in ("search.js", "search.css"):
        shutil.copy2(ROOT / "site_templates" / "theme" / "assets" / name, site / "assets" / name)


def run(tier: str, rows: int, shard_pages: int | None) -> dict[str, Any]:
    district_base = OUT / "search-district"
    district_site = prepare_district(district_base, rows)
    material_district = material_index_bytes(district_base)
    district_pages = len(indexed_pages(district_site))
    material_per_page = material_district / max(district_pages, 1)

    if tier == "district":
        site, pages, material_bytes, material_note = district_site, district_pages, material_district, "实测"
        start_page = sorted(site.glob("communities/*/index.html"))[0]
    else:
        base = OUT / f"search-{tier}"
        started = time.perf_counter()
        site, pages = prepare_replica(district_site, base, TIER_COMMUNITIES[tier])
        log(f"  合成站点就绪 {time.perf_counter() - started:.0f} 秒")
        material_bytes = round(material_per_page * pages)
        material_note = f"估算：按区级实测每页 {material_per_page:.0f} 字节推算（这么多页无法在本机用 MkDocs 实建）"
        start_page = site / sorted(district_site.glob("communities/*/index.html"))[0].relative_to(district_site)
    refresh_assets(site)

    log(f"建立搜索索引：{pages} 页，每个分区至多 {shard_pages or '默认'} 页……")
    try:
        report = index_site(site, shard_pages=shard_pages)
    except SearchIndexError as exc:
        log(f"  失败：{exc}")
        return {"tier": tier, "pages": pages, "error": str(exc), "material_index_bytes": material_bytes,
                "material_index_note": material_note, "load_average": os.getloadavg()}
    import resource

    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bundle_bytes, bundle_files = report.bundle_bytes, report.bundle_files
    areas = report.shards[1:]
    log(f"  索引 {report.seconds:.1f} 秒，{bundle_bytes / 1e6:.1f} MB，{bundle_files} 个文件，"
        f"{len(report.shards)} 个分区（全区公共 {report.shards[0].pages} 页；街道分区 "
        f"{min((s.pages for s in areas), default=0)}–{max((s.pages for s in areas), default=0)} 页），"
        f"峰值内存：Pagefind 单次 {report.peak_memory_mb:.0f} MB，本进程 {peak_self:.0f} MB；"
        f"地名 {report.places} 个，{report.place_buckets} 个分桶，最大 {report.place_bucket_max_bytes / 1024:.1f} KB")

    queries = typical_queries(site, start_page)
    start = "/" + start_page.parent.relative_to(site).as_posix() + "/"
    measured = measure_queries(site, queries, start)
    worst = max(r["bytes"] for r in measured)
    worst_gzip = max(r["bytes_gzip_server"] for r in measured)
    material_gzip = None
    if tier == "district":
        index_file = district_base / "site-material-search" / "search" / "search_index.json"
        material_gzip = len(gzip.compress(index_file.read_bytes(), 6))
    result = {
        "tier": tier,
        "replica": tier != "district",
        "pages_indexed": report.pages,
        "index_seconds": round(report.seconds, 1),
        "index_peak_memory_mb_pagefind": round(report.peak_memory_mb),
        "index_peak_memory_mb_python": round(peak_self),
        "index_bytes_on_disk": bundle_bytes,
        "index_files": bundle_files,
        "shard_pages": shard_pages,
        "shards": [{"id": s.id, "name": s.name, "pages": s.pages, "streets": len(s.streets)} for s in report.shards],
        "places": report.places,
        "place_buckets": report.place_buckets,
        "place_bucket_max_bytes": report.place_bucket_max_bytes,
        "languages": report.languages,
        "warnings": report.warnings,
        "material_index_bytes": material_bytes,
        "material_index_gzip_bytes": material_gzip,
        "material_index_note": material_note,
        "queries": measured,
        "query_bytes_median": statistics.median(r["bytes"] for r in measured),
        "query_bytes_max": worst,
        "query_bytes_gzip_server_max": worst_gzip,
        "share_of_material_max": round(worst / material_bytes, 5),
        "share_of_material_gzip_max": round(worst_gzip / material_gzip, 5) if material_gzip else None,
        "goal_share_ok": worst <= LIMIT_SHARE * material_bytes,
        "goal_300kb_ok": worst <= LIMIT_BYTES,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="搜索基准：索引时间、内存、索引大小、每次查询的传输字节")
    parser.add_argument("--tier", choices=["district", "city", "province"], default="district")
    parser.add_argument("--rows", type=int, default=20_000, help="区级合成事件记录条数（搜索不读事件）")
    parser.add_argument("--shard-pages", type=int, default=None,
                        help="每个街道分区至多多少页（默认用 generator.search.SHARD_PAGES）")
    args = parser.parse_args()
    result = run(args.tier, args.rows, args.shard_pages)
    suffix = f"-{args.shard_pages}" if args.shard_pages else ""
    out = OUT / f"search-{args.tier}"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"result{suffix}.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    log("")
    if "error" in result:
        log(f"规模档 {result['tier']}（{result['pages']} 页）未能建立索引：{result['error']}")
        return 1
    kind = "（合成副本站点：区级页面按村社数复制到该规模，街道与村社换名）" if result["replica"] else ""
    log(f"规模档 {result['tier']}{kind}：索引 {result['pages_indexed']} 页，用时 {result['index_seconds']} 秒，"
        f"峰值内存 Pagefind {result['index_peak_memory_mb_pagefind']} MB / Python {result['index_peak_memory_mb_python']} MB，"
        f"磁盘 {result['index_bytes_on_disk'] / 1e6:.2f} MB（{result['index_files']} 个文件），{len(result['shards'])} 个分区")
    log(f"Material 内置索引：{result['material_index_bytes'] / 1e6:.2f} MB（{result['material_index_note']}）"
        + (f"，gzip 后 {result['material_index_gzip_bytes'] / 1e6:.2f} MB" if result["material_index_gzip_bytes"] else ""))
    for r in result["queries"]:
        log(f"  {r['query']:<14} 范围 {r['scope']!s:<8} {r['bytes'] / 1024:7.1f} KB（gzip 传输 {r['bytes_gzip_server'] / 1024:.1f} KB；"
            f"运行时 {r['bytes_runtime'] / 1024:.0f} KB / gzip {r['bytes_runtime_gzip'] / 1024:.0f} KB，"
            f"元数据 {r['bytes_meta'] / 1024:.0f} KB，清单筛选地名 {r['bytes_manifest_filters_places'] / 1024:.1f} KB，"
            f"索引块与片段 {r['bytes_index_and_fragments'] / 1024:.0f} KB，{r['requests']} 个请求，{r['seconds']} 秒）"
            f"首个结果 {r['first']}；地名 {'、'.join(r['places'][:3]) or '无'}；{r['status']}")
    log(f"最大一次查询 {result['query_bytes_max'] / 1024:.1f} KB = 内置索引的 {result['share_of_material_max'] * 100:.2f}%"
        f"（gzip 传输 {result['query_bytes_gzip_server_max'] / 1024:.1f} KB"
        + (f"，对 gzip 后的内置索引 {result['share_of_material_gzip_max'] * 100:.2f}%" if result["share_of_material_gzip_max"] else "")
        + f"）；目标 ≤1%：{'达到' if result['goal_share_ok'] else '未达到'}；≤300 KB：{'达到' if result['goal_300kb_ok'] else '未达到'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
