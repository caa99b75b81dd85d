"""The web editor (Decap CMS) in headless Chromium against its local backend (decap-server).

An editor works through the real interface, as a person would: the files it saves must be
exactly the files ``gongzhi validate`` reads, and the pickers must offer only real ids.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from chromium import launched, require_chromium

from generator.admin import LocalEditor
from generator.contract import load_contract

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = require_chromium()
OPTION = "[class*=option]"  # react-select's menu entries


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working tree of its own: the sample data, which the editor changes."""
    root = tmp_path_factory.mktemp("editor")
    shutil.copytree(ROOT / "data", root / "data")
    return root


@pytest.fixture(scope="module")
def editor(repo: Path) -> Iterator[LocalEditor]:
    with LocalEditor(repo / "data", ROOT / "mkdocs.yml") as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with launched() as instance:
        yield instance


@pytest.fixture()
def page(browser, editor: LocalEditor):
    """A logged-in editor page; every request it makes is recorded in ``page.requests``."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    tab = context.new_page()
    tab.requests = []
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.goto(editor.url)
    tab.get_by_role("button", name="登录").click()
    tab.get_by_role("link", name="议事会议").first.wait_for()
    try:
        yield tab
    finally:
        context.close()


def _validate(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "generator.cli", "validate", str(data)],
                          capture_output=True, text=True, cwd=ROOT)


def _pick(page, label, text: str | None = None) -> list[str]:
    """Open a select or relation picker (optionally typing ``text``): the options it lists,
    once the list has stopped changing (the relation widget searches after a debounce)."""
    page.keyboard.press("Escape")
    label.click()
    if text:
        label.fill(text)
    page.locator(OPTION).first.wait_for()
    seen, stable = None, 0
    while stable < 6:
        page.wait_for_timeout(100)
        now = page.locator(OPTION).all_inner_texts()
        stable = stable + 1 if now == seen else 0
        seen = now
    return seen


def _choose(page, text: str) -> None:
    page.locator(OPTION).filter(has_text=re.compile("^" + re.escape(text) + "$")).first.click()


def _optional(name: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(name))  # optional fields are labelled "name (可选)"


def _publish(page) -> None:
    page.get_by_role("button", name="发布").first.click()
    page.get_by_text("立即发布").click()


def _councils(data: Path) -> dict[str, str]:
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))["name"]
            for p in (data / "councils").glob("*.yaml")}


def test_create_a_meeting_with_two_decisions(page, repo: Path, editor: LocalEditor) -> None:
    data = repo / "data"
    page.goto(editor.url + "#/collections/meetings/new")
    page.get_by_label("编号", exact=True).first.fill("xinfeng-2026-11")

    # the council picker lists real councils (name and id) only; a search finds any of them
    council = page.get_by_label("议事组织", exact=True)
    real = {f"{name}（{cid}）" for cid, name in _councils(data).items()}
    listed = _pick(page, council)
    assert len(listed) >= 8 and set(listed) <= real  # the menu renders what fits on screen
    assert _pick(page, council, "nanyuan-bench") == [f"{_councils(data)['nanyuan-bench']}（nanyuan-bench）"]
    assert _pick(page, council, "新丰") == ["新丰社区居民议事会（xinfeng-council）"]
    _choose(page, "新丰社区居民议事会（xinfeng-council）")

    page.get_by_label("会议名称", exact=True).fill("新丰社区2026年11月临时议事会议")
    page.locator("input[type=date]").first.fill("2026-11-20")
    # an enum offers its Chinese labels and saves the code
    enum = load_contract(data, check_with_frictionless=False).tables["meetings"].fields["status"].enum
    assert _pick(page, page.get_by_label("状态", exact=True)) == list(enum)
    _choose(page, "已召开")

    for n in (1, 2):
        page.get_by_role("button", name="新增决议").click()
        page.get_by_label("编号", exact=True).nth(n).fill(f"xinfeng-2026-11-d{n}")
        page.get_by_label("决议事项", exact=True).nth(n - 1).fill(f"第{n}项决议（示例数据）")
        _pick(page, page.get_by_label("表决结果", exact=True).nth(n - 1))
        _choose(page, "通过")
        _pick(page, page.get_by_label("落实状态", exact=True).nth(n - 1))
        _choose(page, "实施中")
    # a decision's owner is picked from the real organisations (one file each)
    owners = _pick(page, page.get_by_label(_optional("责任组织")).first, "新丰社区党委")
    assert owners == ["新丰社区党委（xinfeng-party）"]
    _choose(page, owners[0])
    projects = _pick(page, page.get_by_label(_optional("实施项目")).nth(1), "xinfeng")
    real = {p.stem for p in (data / "projects").glob("xinfeng*.yaml")}
    assert projects and {re.search(r"（([^（）]+)）$", text).group(1) for text in projects} <= real
    _choose(page, projects[0])
    _publish(page)

    saved = data / "meetings" / "xinfeng-council" / "xinfeng-2026-11.yaml"
    page.wait_for_function("() => !document.body.innerText.includes('含未保存的修改')")
    for _ in range(50):
        if saved.exists():
            break
        page.wait_for_timeout(100)
    meeting = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert meeting["id"] == saved.stem and meeting["council"] == "xinfeng-council"
    assert meeting["status"] == "已召开" and str(meeting["date"]) == "2026-11-20"
    decisions = meeting["decisions"]
    assert [d["id"] for d in decisions] == ["xinfeng-2026-11-d1", "xinfeng-2026-11-d2"]
    assert decisions[0]["owner"] == "xinfeng-party" and decisions[1]["project"] == projects[0].split("（")[-1][:-1]
    assert all(d["outcome"] == "通过" and d["follow_up"] == "实施中" for d in decisions)
    result = _validate(data)
    assert result.returncode == 0, result.stdout + result.stderr
    # nothing but the editor's own origin was asked for anything
    assert {urlsplit(url).netloc for url in page.requests if url.startswith("http")} == {
        urlsplit(editor.url).netloc}


def test_a_required_field_left_empty_blocks_saving(page, repo: Path, editor: LocalEditor) -> None:
    page.goto(editor.url + "#/collections/meetings/new")
    page.get_by_label("编号", exact=True).first.fill("xinfeng-2026-10")
    page.get_by_role("button", name="发布").first.click()
    page.get_by_text("立即发布").click()
    assert page.get_by_text("“会议名称”是必填项").is_visible()
    assert page.get_by_text("“议事组织”是必填项").is_visible()
    page.wait_for_timeout(500)
    assert not list((repo / "data" / "meetings").rglob("xinfeng-2026-10.yaml"))


def test_a_pattern_is_checked_with_a_chinese_message(page, repo: Path, editor: LocalEditor) -> None:
    page.goto(editor.url + "#/collections/policies/new")
    page.get_by_label("编号", exact=True).fill("Policy 2026")
    _publish(page)
    assert page.get_by_text("“编号”应由小写字母、数字和连字符组成，以字母或数字开头。").is_visible()
    assert not (repo / "data" / "policies" / "Policy 2026.yaml").exists()


def test_editing_a_community_keeps_its_grids(page, repo: Path, editor: LocalEditor) -> None:
    path = repo / "data" / "communities" / "xinfeng.yaml"
    before = yaml.safe_load(path.read_text(encoding="utf-8"))
    page.goto(editor.url + "#/collections/communities/entries/xinfeng")
    population = page.get_by_label(_optional("常住人口"))
    population.fill(str(before["population"] + 20))
    _publish(page)
    for _ in range(50):
        after = yaml.safe_load(path.read_text(encoding="utf-8"))
        if after["population"] != before["population"]:
            break
        page.wait_for_timeout(100)
    assert after["population"] == before["population"] + 20
    assert after["grids"] == before["grids"] and len(after["grids"]) == 15
    assert {k: v for k, v in after.items() if k != "population"} == {
        k: v for k, v in before.items() if k != "population"}
    result = _validate(repo / "data")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("width", [360, 390])
def test_the_editor_fits_a_phone(browser, editor: LocalEditor, width: int) -> None:
    """Decap lays out for 800 px; the editor's page narrows it so nothing scrolls sideways."""
    context = browser.new_context(viewport={"width": width, "height": 740}, locale="zh-CN")
    tab = context.new_page()
    try:
        tab.goto(editor.url)
        tab.get_by_role("button", name="登录").click()
        tab.get_by_role("link", name="议事会议").first.wait_for()
        for route, shown in (("#/collections/meetings", "每次会议一个文件"),
                             ("#/collections/meetings/entries/xinfeng-council/xinfeng-2025-03", "会议名称")):
            tab.goto(editor.url + route)
            tab.get_by_text(shown).first.wait_for()
            if route.endswith("03"):
                assert tab.get_by_label("会议名称", exact=True).input_value() == "新丰社区2025年第一季度议事会议"
            assert tab.evaluate("document.documentElement.scrollWidth") <= width, route
    finally:
        context.close()
