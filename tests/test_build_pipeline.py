"""The build pipeline: escaping and Chinese formatting, incremental writes, atomic swap.

A failed build — invalid data, or MkDocs failing in strict mode — must leave the previous
site exactly as it was, and print the validator's issues in Chinese with exit code 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest

from generator.build import BuildError, build
from generator.cli import main
from generator.issues import DataError
from generator.pages import Page, RenderContext
from generator.render import (
    make_environment,
    md_escape,
    money,
    number,
    percent,
    relative_link,
    write_docs,
    zh_date,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data"
TODAY = dt.date(2026, 11, 28)


# --- escaping and formatting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "<script>alert(1)</script>",
        "**粗体** _斜体_ `代码`",
        "[点我](javascript:alert(1))",
        "# 不是标题",
        "1. 不是列表",
        "| 不是 | 表格 |",
        "- 不是列表项",
        "{: .attr }",
        "a &amp; b",
    ],
)
def test_md_escape_renders_as_the_same_text_through_markdown(value: str) -> None:
    import markdown
    from bs4 import BeautifulSoup

    html = markdown.markdown(md_escape(value), extensions=["tables", "attr_list", "md_in_html", "def_list"])
    soup = BeautifulSoup(html, "html.parser")
    assert soup.get_text() == value
    assert [t.name for t in soup.find_all(True)] == ["p"]


def test_md_escape_keeps_one_block() -> None:
    assert "\n" not in md_escape("第一行\n\n# 第二行\n- 第三行")
    assert md_escape(None) == ""


def test_chinese_formatting() -> None:
    assert zh_date(dt.date(2026, 11, 28)) == "2026年11月28日"
    assert zh_date(None) == "—"
    assert money(800) == "800 元"
    assert money(1234.5) == "1,234.50 元"
    assert money(10000) == "1 万元"
    assert money(125000) == "12.5 万元"
    assert money(1234567) == "123.46 万元"
    assert percent(0.9155) == "91.6%"
    assert percent(85, 0, ratio=False) == "85%"
    assert percent(None) == "—"
    assert number(12345) == "12,345"
    assert number(2.345, 2) == "2.35"


def test_relative_links_between_docs_pages() -> None:
    assert relative_link("communities/anping.md", "projects/x.md") == "../projects/x.md"
    assert relative_link("index.md", "communities/index.md") == "communities/index.md"
    assert relative_link("meetings/a.md", "meetings/b.md#d-1") == "b.md#d-1"


def test_templates_escape_values_but_not_their_own_markup(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text('# {{ title }}\n\n{{ link(title, "x.md") }} {{ note|paras }}\n', "utf-8")
    env = make_environment([tmp_path])
    out = env.get_template("t.md").render(title="<b>x</b>", note="**y**", page_path="a/b.md")
    assert "<b>" not in out and "**y**" not in out
    assert "[&#60;b&#62;x&#60;/b&#62;](../x.md)" in out


# --- the docs folder is rewritten only where bytes changed ---------------------------------------


def test_write_docs_rewrites_changed_files_only_and_deletes_stale_ones(tmp_path: Path) -> None:
    docs, content = tmp_path / "docs", tmp_path / "content"
    (content / "about").mkdir(parents=True)
    (content / "about" / "index.md").write_text("# 关于\n", "utf-8")
    first = write_docs({"a.md": b"A", "sub/b.md": b"B"}, docs, content)
    assert sorted(first.written) == ["a.md", "about/index.md", "sub/b.md"]
    stamp = (docs / "a.md").stat().st_mtime_ns
    second = write_docs({"a.md": b"A", "c.md": b"C"}, docs, content)
    assert second.written == ["c.md"] and second.unchanged == 2 and second.deleted == ["sub/b.md"]
    assert (docs / "a.md").stat().st_mtime_ns == stamp
    assert not (docs / "sub").exists()
    # a file someone put in the docs folder by hand is not the render stage's to delete
    (docs / "mine.txt").write_text("x", "utf-8")
    write_docs({"a.md": b"A2"}, docs, content)
    assert (docs / "mine.txt").exists() and not (docs / "c.md").exists()


def test_generated_page_cannot_shadow_content(tmp_path: Path) -> None:
    from generator.render import RenderError

    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "index.md").write_text("x", "utf-8")
    with pytest.raises(RenderError, match="同名"):
        write_docs({"index.md": b"y"}, tmp_path / "docs", tmp_path / "content")


# --- atomic builds -------------------------------------------------------------------------------


def _snapshot(site: Path) -> dict[str, str]:
    return {
        p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(site.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("atomic")
    data = tmp / "data"
    shutil.copytree(SAMPLE, data)
    site = tmp / "site"
    report = build(data, site, docs_dir=tmp / "docs", today=TODAY, index=False)
    assert report.pages_written > 50
    return tmp, data, _snapshot(site)


def test_unchanged_data_rewrites_no_page(built: tuple[Path, Path, dict[str, str]]) -> None:
    tmp, data, _ = built
    report = build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert report.pages_written == 0 and report.pages_deleted == 0 and report.pages_unchanged > 50


def test_old_sites_are_removed_after_the_swap_and_leftovers_by_the_next_build(
    built: tuple[Path, Path, dict[str, str]],
) -> None:
    import time

    tmp, data, _ = built
    leftover = tmp / ".site.old-12345-1"  # what a killed removal leaves behind
    (leftover / "communities").mkdir(parents=True)
    (leftover / "communities" / "index.html").write_text("旧", "utf-8")
    build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert (tmp / "site" / "index.html").is_file()
    deadline = time.monotonic() + 30
    while [p for p in tmp.iterdir() if p.name.startswith(".site.")] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in tmp.iterdir() if p.name.startswith(".site.")]


def test_invalid_data_leaves_the_previous_site(built: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    tmp, data, _ = built
    before = _snapshot(tmp / "site")
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    community = sorted((broken / "communities").glob("*.yaml"))[0]
    text = community.read_text("utf-8")
    community.write_text(text.replace("kind: 社区", "kind: 小区", 1).replace("kind: 村", "kind: 小区", 1), "utf-8")
    docs_before = _snapshot(tmp / "docs")
    with pytest.raises(DataError) as caught:
        build(broken, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert any(i.code == "not-in-enum" for i in caught.value.issues)
    assert _snapshot(tmp / "site") == before
    assert _snapshot(tmp / "docs") == docs_before  # nothing was rendered either
    assert not [p for p in tmp.iterdir() if p.name.startswith(".site.")]


def test_cli_prints_the_issues_in_chinese_and_exits_1(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, data, _ = built
    before = _snapshot(tmp / "site")
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    project = sorted((broken / "projects").glob("*.yaml"))[0]
    project.write_text(project.read_text("utf-8").replace("budget_yuan:", "budget_yuan: 很多 #", 1), "utf-8")
    code = main(["build", "--data", str(broken), "--out", str(tmp / "site")])
    err = capsys.readouterr().err
    assert code == 1
    assert project.name in err and "budget_yuan" in err and "原网站保持不变" in err
    assert "Traceback" not in err
    assert _snapshot(tmp / "site") == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.__setitem__("name", "Not A Valid Name!"), id="frictionless-rejects-it"),
        pytest.param(lambda d: d["resources"][0]["schema"].__setitem__("primaryKey", 5), id="odd-shape"),
        pytest.param(None, id="missing"),
    ],
)
def test_an_unusable_data_package_is_a_chinese_build_error(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path, change
) -> None:
    import yaml

    tmp, sample, _ = built
    before = _snapshot(tmp / "site")
    data = tmp_path / "data"
    shutil.copytree(sample, data)
    package = data / "datapackage.yaml"
    if change is None:
        package.unlink()
    else:
        descriptor = yaml.safe_load(package.read_text("utf-8"))
        change(descriptor)
        package.write_text(yaml.safe_dump(descriptor, allow_unicode=True), "utf-8")
    with pytest.raises(BuildError, match="datapackage.yaml"):
        build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert _snapshot(tmp / "site") == before


def test_mkdocs_failure_leaves_the_previous_site(built: tuple[Path, Path, dict[str, str]]) -> None:
    from generator.render import default_providers

    tmp, data, _ = built
    before = _snapshot(tmp / "site")

    def broken_link(ctx: RenderContext):
        yield Page("broken.md", "_broken.md", {})

    templates = tmp / "extra_templates"
    templates.mkdir(exist_ok=True)
    (templates / "_broken.md").write_text("# 坏链接\n\n[不存在的页面](nowhere/missing.md)\n", "utf-8")
    import generator.render as render_module

    dirs = [render_module.TEMPLATES_DIR, templates]
    original = render_module.make_environment
    render_module.make_environment = lambda template_dirs=None: original(dirs)
    try:
        with pytest.raises(BuildError) as caught:
            build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False,
                  providers=[*default_providers(), broken_link])
    finally:
        render_module.make_environment = original
    assert "nowhere/missing.md" in str(caught.value)
    assert _snapshot(tmp / "site") == before
    assert not [p for p in tmp.iterdir() if p.name.startswith(".site.")]


def test_output_folder_may_not_overlap_the_data(built: tuple[Path, Path, dict[str, str]]) -> None:
    tmp, data, _ = built
    with pytest.raises(BuildError, match="重叠"):
        build(data, data / "site", docs_dir=tmp / "docs", today=TODAY, index=False)


def test_a_second_build_on_the_same_docs_folder_is_refused(built: tuple[Path, Path, dict[str, str]]) -> None:
    from generator.build import _exclusive

    tmp, data, _ = built
    before = _snapshot(tmp / "site")
    with _exclusive(tmp / "docs"), pytest.raises(BuildError, match="另一个构建"):
        build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert _snapshot(tmp / "site") == before


def test_large_assets_are_copied_from_files_and_compared_in_chunks(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"id,x\n" + b"1,a\n" * 100_000)
    docs = tmp_path / "docs"
    first = write_docs({"data/cases.csv": source}, docs)
    assert first.written == ["data/cases.csv"]
    assert (docs / "data" / "cases.csv").read_bytes() == source.read_bytes()
    assert write_docs({"data/cases.csv": source}, docs).unchanged == 1
    source.write_bytes(b"id,x\n" + b"1,b\n" * 100_000)  # same size, other bytes
    assert write_docs({"data/cases.csv": source}, docs).written == ["data/cases.csv"]


# --- the case files' check, beside MkDocs ------------------------------------------------------


def _unknown_community(line: str) -> str:
    fields = line.split(",")
    fields[1] = "无此社区"  # a community that does not exist
    return ",".join(fields)


@pytest.mark.parametrize(
    ("line", "change", "message"),
    [
        # checked beside MkDocs: its errors still stop the build before the swap
        (4, _unknown_community, "无此社区"),
        # a row the CSV reader cannot split makes the background case work fail; the build
        # then answers with the validator's issue (file and line), not with DuckDB's message
        (6, lambda line: line + ",多余,的,列", ""),
    ],
    ids=["unknown-community", "unparsable-row"],
)
def test_invalid_case_records_fail_the_build_and_leave_the_previous_site(
    built: tuple[Path, Path, dict[str, str]], tmp_path: Path, line: int, change, message: str
) -> None:
    tmp, data, _ = built
    before = _snapshot(tmp / "site")
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    cases = sorted((broken / "cases").glob("*.csv"))[-1]
    lines = cases.read_text("utf-8").splitlines()
    lines[line - 1] = change(lines[line - 1])
    cases.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(DataError) as caught:
        build(broken, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    found = [i for i in caught.value.issues if i.file.endswith(cases.name)]
    assert found and found[0].line == line and message in found[0].message
    assert _snapshot(tmp / "site") == before
    assert not [p for p in tmp.iterdir() if p.name.startswith(".site.")]


def _companion(tmp_path: Path):
    from generator.build import load_config
    from generator.mkdocs_feed import MkDocsProcess

    docs = tmp_path / "docs"
    docs.mkdir(parents=True)
    config = tmp_path / "mkdocs.yml"
    # the portal's configuration without its nav: these pages only
    text = (ROOT / "mkdocs.yml").read_text("utf-8")
    text = text[: text.index("\nnav:")] + "\n"
    text = text.replace("custom_dir: site_templates/theme", f"custom_dir: {ROOT / 'site_templates' / 'theme'}")
    config.write_text(text, "utf-8")
    load_config(config, docs)  # valid
    return MkDocsProcess(config, docs, tmp_path / "site").start(), docs


def test_mkdocs_reads_each_page_only_once_it_is_written(tmp_path: Path) -> None:
    import time

    mkdocs, docs = _companion(tmp_path)
    (docs / "b.md").write_text("# 旧的第二页\n", "utf-8")  # an earlier run's page, about to change
    (docs / "stale.md").write_text("# 早已不用的页\n", "utf-8")  # not in the plan: never built
    mkdocs.extra["sample_data"] = True
    mkdocs.plan(["index.md", "b.md"])
    (docs / "index.md").write_text("# 首页\n\n[第二页](b.md)\n", "utf-8")
    mkdocs.ready(1)
    time.sleep(1.0)  # MkDocs is at b.md by now, and must wait
    (docs / "b.md").write_text("# 新的第二页\n", "utf-8")
    mkdocs.ready(2)
    mkdocs.done()
    run = mkdocs.finish()
    html = (tmp_path / "site" / "b" / "index.html").read_text("utf-8")
    assert "新的第二页" in html and "旧的第二页" not in html
    assert not (tmp_path / "site" / "stale").exists()
    assert run.waited_s > 0.3 and run.build_s >= run.waited_s and run.peak_rss_mb > 0


def test_mkdocs_is_stopped_when_told_and_its_warnings_fail_the_build(tmp_path: Path) -> None:
    from generator.mkdocs_feed import MkDocsError

    mkdocs, docs = _companion(tmp_path / "one")
    mkdocs.plan(["index.md"])  # never written: MkDocs waits until it is stopped
    with pytest.raises(MkDocsError, match="事件记录校验未通过"):
        mkdocs.finish(stop=lambda: True)
    assert mkdocs._process.returncode not in (0, None)

    mkdocs, docs = _companion(tmp_path / "two")
    (docs / "index.md").write_text("# 首页\n\n[不存在的页](nowhere.md)\n", "utf-8")
    mkdocs.plan(["index.md"])
    mkdocs.ready(1)
    mkdocs.done()
    with pytest.raises(MkDocsError, match="严格模式(.|\n)*nowhere.md"):
        mkdocs.finish()


def test_mkdocs_leaves_quietly_when_the_build_has_gone(tmp_path: Path) -> None:
    from generator.mkdocs_feed import STOPPED

    mkdocs, _ = _companion(tmp_path)
    mkdocs.close()  # the build failed before it had a plan
    assert mkdocs._process.wait(timeout=30) == STOPPED
    mkdocs.kill()
    assert not (tmp_path / "site").exists()


def test_a_case_check_that_cannot_run_is_a_chinese_build_error(
    built: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import generator.validate as validate_module

    tmp, data, _ = built
    before = _snapshot(tmp / "site")

    def broken(*args, **kwargs):
        raise RuntimeError("Out of Memory Error: failed to allocate\nmore detail")

    monkeypatch.setattr(validate_module, "check_cases", broken)
    with pytest.raises(BuildError, match="检查事件记录时出错：Out of Memory Error: failed to allocate$"):
        build(data, tmp / "site", docs_dir=tmp / "docs", today=TODAY, index=False)
    assert _snapshot(tmp / "site") == before
