"""The two engines (``gongzhi build --engine mkdocs|zensical``) build the same site from the same
docs folder: the same pages, titles and page text; a failing engine leaves the old site."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from generator.build import ENGINES, BuildError, build

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("engines")
    shutil.copytree(ROOT / "data", tmp / "data", ignore=shutil.ignore_patterns("cases"))
    built = {}
    for engine in ENGINES:
        built[engine] = tmp / engine
        build(tmp / "data", built[engine], docs_dir=tmp / f"docs-{engine}", today=TODAY, index=False, engine=engine)
    return built


def _pages(site: Path) -> dict[str, Path]:
    return {p.relative_to(site).as_posix(): p for p in site.rglob("*.html")}


def _reading(page: Path) -> tuple[str, str]:
    """What a reader gets from a page: its title and the text of its content."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    body = soup.select_one("[data-pagefind-body]") or soup.select_one("article")
    return (soup.title.string if soup.title else ""), (body.get_text(" ", strip=True) if body else "")


def test_both_engines_build_the_same_pages_with_the_same_text(sites: dict[str, Path]) -> None:
    mkdocs, zensical = (_pages(sites[engine]) for engine in ENGINES)
    assert set(mkdocs) == set(zensical)
    assert len(mkdocs) > 250
    differing = [path for path in sorted(mkdocs) if _reading(mkdocs[path]) != _reading(zensical[path])]
    assert differing == []
    # the site's own files, the editor and the theme's assets are in both
    for relative in ("admin/config.yml", "assets/gongzhi.css", "assets/search.js", "sitemap.xml",
                     "data/datapackage.json"):
        assert all((sites[engine] / relative).is_file() for engine in ENGINES), relative


def test_zensical_pages_lose_the_indentation_and_its_own_index(sites: dict[str, Path]) -> None:
    site = sites["zensical"]
    assert not (site / "search.json").exists()  # Pagefind searches the site
    page = (site / "communities" / "xinfeng" / "index.html").read_text(encoding="utf-8")
    assert "\n    <" not in page.split("<pre", 1)[0]


def test_a_failing_zensical_build_keeps_the_old_site(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "site_templates", project / "site_templates")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("cases"))
    site = project / "site"
    build(project / "data", site, config_file=project / "mkdocs.yml", docs_dir=project / "build" / "docs",
          content_dir=ROOT / "content", today=TODAY, index=False, engine="zensical")
    before = (site / "index.html").read_bytes()
    # a template only Jinja2 understands: Zensical's template engine has no str.split
    partial = project / "site_templates" / "theme" / "partials" / "copyright.html"
    partial.write_text('{{ "a/b".split("/")[0] }}', encoding="utf-8")
    with pytest.raises(BuildError, match="Zensical 构建失败"):
        build(project / "data", site, config_file=project / "mkdocs.yml", docs_dir=project / "build" / "docs",
              content_dir=ROOT / "content", today=TODAY, index=False, engine="zensical")
    assert (site / "index.html").read_bytes() == before
    assert not list(project.rglob(".gongzhi-zensical*"))  # the run's configuration and site are gone
    assert not list(project.glob(".site.new-*"))


def test_an_unknown_engine_is_refused_in_chinese(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="未知的引擎"):
        build(ROOT / "data", tmp_path / "site", engine="hugo")
