"""The forms on the built site: structure (BeautifulSoup) and what a resident does (Chromium).

The sample data is copied, its default intake endpoint pointed at a tiny recording server
started here, and the whole site built once (``gongzhi build``'s pipeline, strict MkDocs).
The recording server answers like the intake service: JSON for fetch(), 303 to the thank-you
page for a plain POST.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import markdown
import pytest
import segno
from bs4 import BeautifulSoup
from chromium import launched

from generator.build import build
from generator.forms.definitions import load_forms_for_use
from generator.forms.rules import browser_rules
from generator.forms.site import public_url

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 28)
SITE_URL = "https://gongzhi.example.org/"  # mkdocs.yml site_url: what QR codes and _next hold


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Recorder:
    """What the fake intake service received."""

    posts: list[dict] = field(default_factory=list)
    site_origin: str = ""


def _intake_handler(recorder: Recorder) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin == recorder.site_origin:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")

        def do_OPTIONS(self) -> None:  # noqa: N802 - the preflight of a JSON fetch()
            self.send_response(204)
            self._cors()
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, Accept")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/json"):
                values = json.loads(body)
            else:
                values = {}
                for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
                    if key in values:
                        values[key] = (
                            values[key] if isinstance(values[key], list) else [values[key]]
                        ) + [value]
                    else:
                        values[key] = value
            recorder.posts.append({"path": self.path, "type": ctype, "values": values})
            if "application/json" in self.headers.get("Accept", ""):
                data = json.dumps(
                    {"ok": True, "receipt": "GZ-TEST-0001", "message": "提交成功，感谢您的参与！"}
                )
                self.send_response(201)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data.encode("utf-8"))
                return
            # Like the intake service: POST-redirect-GET to the thank-you page. The public
            # site_url is not reachable here, so the path is kept and the origin made local.
            target = urllib.parse.urlsplit(values.get("_next", ""))
            self.send_response(303)
            self.send_header("Location", recorder.site_origin + target.path)
            self.end_headers()

    return Handler


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Built:
    site: Path
    docs: Path
    data: Path
    origin: str  # where the built site is served
    endpoint: str  # the recording intake server
    recorder: Recorder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("forms-site")
    recorder = Recorder()
    intake = _serve(_intake_handler(recorder))
    endpoint = f"http://127.0.0.1:{intake.server_address[1]}"
    data = tmp / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("cases"))
    (data / "forms" / "_settings.yaml").write_text(f"endpoint: {endpoint}\n", "utf-8")
    site = tmp / "site"
    build(data, site, docs_dir=tmp / "docs", today=TODAY, index=False)

    class Static(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(site), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    static = _serve(Static)
    recorder.site_origin = f"http://127.0.0.1:{static.server_address[1]}"
    yield Built(site, tmp / "docs", data, recorder.site_origin, endpoint, recorder)
    for server in (static, intake):
        server.shutdown()
        server.server_close()


def _soup(built: Built, rel: str) -> BeautifulSoup:
    return BeautifulSoup((built.site / rel).read_text("utf-8"), "html.parser")


# --- structure -------------------------------------------------------------------------------


def test_form_page_is_accessible_html(built: Built) -> None:
    soup = _soup(built, "forms/xinfeng-volunteers-winter/index.html")
    form = soup.find("form", id="gz-form")
    assert form is not None
    assert form["method"] == "post"
    assert form["action"] == f"{built.endpoint}/f/xinfeng-volunteers-winter"
    ids = {tag["id"] for tag in soup.find_all(id=True)}
    for control in form.find_all(["input", "select", "textarea"]):
        if control.get("type") == "hidden" or control.get("name") == "_hp":
            continue
        label = soup.find("label", attrs={"for": control["id"]})
        assert label is not None and label.get_text(strip=True), control
        if control.get("type") in ("radio", "checkbox") and control["name"] != "consent":
            fieldset = control.find_parent("fieldset")
            assert fieldset is not None and fieldset.find("legend").get_text(strip=True)
    for tag in form.find_all(attrs={"aria-describedby": True}):
        for ref in tag["aria-describedby"].split():
            assert ref in ids, ref
    errors = form.find_all(class_="gz-error")
    assert errors and all(e["aria-live"] == "polite" for e in errors)
    honeypot = form.find("input", attrs={"name": "_hp"})
    assert honeypot["tabindex"] == "-1"
    assert honeypot.find_parent(attrs={"aria-hidden": "true"}) is not None
    next_input = form.find("input", attrs={"name": "_next"})
    assert next_input["value"] == f"{SITE_URL}forms/xinfeng-volunteers-winter/thanks/"
    rules = json.loads(soup.find("script", id="gz-form-rules").string)
    forms = load_forms_for_use(built.data)
    expected = browser_rules(forms["xinfeng-volunteers-winter"])
    assert {k: rules[k] for k in expected} == json.loads(json.dumps(expected))
    assert "征集中" in soup.get_text() and "还有 7 天截止" in soup.get_text()
    privacy = soup.find(class_="gz-privacy").get_text()
    for words in ("处理目的", "谁能看到", "120 天", "姓名、手机号码"):
        assert words in privacy


def test_closed_form_shows_results_not_a_form(built: Built) -> None:
    soup = _soup(built, "forms/xinfeng-parking-survey/index.html")
    assert soup.find("form", id="gz-form") is None
    text = soup.get_text()
    assert "已截止" in text and "共 86 份有效回复" in text
    captions = [c.get_text() for c in soup.select("table.gz-results caption")]
    assert any("家里有几辆汽车" in c for c in captions)
    assert not any("其他建议" in c for c in captions)  # free text is never published
    # grouped results: a project with fewer than 5 responses shows no figures
    soup = _soup(built, "forms/nanyuan-bench-review-2025/index.html")
    suppressed = [p.get_text() for p in soup.select(".gz-suppressed")]
    assert any("回复不足 5 份" in s for s in suppressed)


def test_index_lists_open_forms_newest_close_first(built: Built) -> None:
    soup = _soup(built, "forms/index.html")
    tables = soup.select("article table") or soup.find_all("table")
    open_rows = [tr.find("a").get_text() for tr in tables[0].select("tbody tr")]
    forms = load_forms_for_use(built.data)
    open_forms = sorted(
        (f for f in forms.values() if f.status(TODAY).value == "征集中"),
        key=lambda f: (f.closes, f.id),
        reverse=True,
    )
    assert open_rows == [f.title for f in open_forms]
    closed_rows = [tr.find("a").get_text() for tr in tables[-1].select("tbody tr")]
    assert "新丰社区停车难问题居民问卷" in closed_rows
    assert "新丰社区停车难问题居民问卷" not in open_rows


def test_owner_pages_embed_their_forms(built: Built) -> None:
    from generator.forms.site import FormsSite

    soup = _soup(built, "communities/xinfeng/index.html")
    links = {a.get_text(): a["href"] for a in soup.select(".gz-embed a")}
    assert "新丰社区“暖冬行动”志愿者招募" in links  # owned by the community
    assert "新丰社区居民议事会 2026 年第四季度议题征集" in links  # owned by its council
    # the project pages' offers: the evaluation form, pre-filled with the project
    from generator.forms.site import derive
    from generator.pages import RenderContext
    from generator.validate import check

    dataset = check(built.data, extra_checks=(), cases=False).dataset
    site = derive(RenderContext(dataset, TODAY, SITE_URL, None))
    assert isinstance(site, FormsSite)
    embeds = site.embeds("projects/xinzhou-elevator-service.md")
    targets = [e.target for e in embeds]
    assert "forms/nanyuan-bench-review-2026/index.md?project=xinzhou-elevator-service" in targets
    council = site.embeds("councils/xinfeng-council.md")
    assert [e.view.form.id for e in council][0] == "xinfeng-topics-2026q4"
    award = site.embeds("awards/zuimei-volunteer-2026.md")
    assert [e.view.form.id for e in award] == ["zuimei-volunteer-2026-nomination"]
    # the 2025 evaluation carries each project's own published (or suppressed) results
    past = [e for e in site.embeds("projects/qiantang-neighbourhood-canteen.md") if e.group]
    assert past and past[0].group.n == 31
    # ... shown on the built project pages as a compact table, or as "too few" only
    soup = _soup(built, "projects/qiantang-neighbourhood-canteen/index.html")
    table = soup.select_one(".gz-embed table.gz-results")
    assert "本项目的结果：31 份有效回复" in table.caption.get_text()
    rows = {tr.th.get_text(): tr.td.get_text() for tr in table.select("tbody tr")}
    assert rows["总体评价"].startswith("满意 ") and "平均" in rows["项目效果"]
    assert "改进建议" not in rows  # free text never
    soup = _soup(built, "projects/xinzhou-elevator-service/index.html")
    assert "回复不足 5 份" in soup.select_one(".gz-embed .gz-suppressed").get_text()
    assert soup.select(".gz-embed table.gz-results") == []


def test_paper_version(built: Built) -> None:
    soup = _soup(built, "forms/xinfeng-volunteers-winter/paper/index.html")
    paper = soup.find(class_="gz-paper")
    text = paper.get_text()
    assert "新丰路237号" in text  # the owner community's office: where to hand it in
    assert "工作日 8:30" in text
    assert "保存期限：120 天" in text
    services = paper.find(string=lambda s: s and "愿意参加的服务" in s).find_parent("li")
    assert services.get_text().count("□") == 5
    assert len(paper.select(".gz-cell")) == 11  # a box per digit of the phone number
    assert paper.find("svg") is not None


def test_downloads(built: Built) -> None:
    base = built.site / "forms" / "xinfeng-parking-survey"
    table = json.loads((base / "responses.table-schema.json").read_text("utf-8"))
    assert table["fields"][0]["name"] == "response_id"
    schema = json.loads((base / "responses.schema.json").read_text("utf-8"))
    assert schema["type"] == "object"
    header = (base / "responses-template.csv").read_bytes()
    assert header.startswith(b"\xef\xbb\xbf") and b"shared_parking" in header
    assert (base / "qr.svg").read_bytes().startswith(b"<?xml")
    thanks = _soup(built, "forms/xinfeng-parking-survey/thanks/index.html")
    assert "提交成功" in thanks.get_text()


HOSTILE = "<script>alert(1)</script>**粗**[链](javascript:x)"


def test_definition_values_are_text_never_markup(built: Built, tmp_path: Path) -> None:
    """Titles, labels, help, options and privacy text with HTML or Markdown stay literal."""
    import yaml

    from generator.forms.site import pages
    from generator.pages import Page, RenderContext
    from generator.render import make_environment, render_all
    from generator.validate import check

    data = tmp_path / "data"
    shutil.copytree(built.data, data)
    path = data / "forms" / "xinfeng-topics-2026q4.yaml"
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["title"] = "议题" + HOSTILE
    doc["purpose"] = HOSTILE
    doc["fields"][0]["label"] = HOSTILE
    doc["fields"][0]["help"] = HOSTILE
    doc["fields"][1]["options"][0] = "停车" + HOSTILE
    doc["privacy"]["seen_by"] = HOSTILE
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    dataset = check(data, extra_checks=(), cases=False).dataset
    ctx = RenderContext(dataset, TODAY, SITE_URL, None)
    items = [i for i in pages(ctx) if isinstance(i, Page) and "xinfeng-topics-2026q4" in i.path]
    files = render_all(make_environment(), ctx, items)
    md = markdown.Markdown(
        extensions=["tables", "attr_list", "md_in_html", "admonition", "def_list"]
    )
    for rel, content in files.items():
        text = content.decode("utf-8")
        body = text.split("---", 2)[2]
        html = md.reset().convert(body)
        soup = BeautifulSoup(html, "html.parser")
        for script in soup.find_all("script"):  # only the rules JSON, with "<" escaped
            assert script.get("type") == "application/json" and "<" not in script.string, rel
        assert not soup.find_all("strong", string="粗"), rel
        assert not [a for a in soup.find_all("a") if a.get("href", "").startswith("javascript")], (
            rel
        )
        assert "<script>alert(1)</script>" in soup.get_text(), rel
        if rel.endswith("q4/index.md"):
            radios = [i["value"] for i in soup.select('input[name="area"]')]
            assert radios[0] == "停车" + HOSTILE
            rules = json.loads(soup.find("script", id="gz-form-rules").string)
            assert rules["fields"][1]["options"][0] == "停车" + HOSTILE


# --- in the browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(built: Built):
    with launched() as instance:
        yield instance


class Session:
    def __init__(self, browser, built: Built, javascript: bool = True) -> None:
        self.context = browser.new_context(java_script_enabled=javascript, locale="zh-CN")
        self.page = self.context.new_page()
        # The pages were built for TODAY; forms.js hides a form once its close date has passed
        # in China, so the browser's clock is TODAY at noon in China unless a test moves it.
        self.page.clock.set_fixed_time(dt.datetime(TODAY.year, TODAY.month, TODAY.day, 4, 0, tzinfo=dt.UTC))
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.built = built

    def open(self, rel: str) -> None:
        self.page.goto(f"{self.built.origin}/{rel}")

    def foreign(self) -> list[str]:
        allowed = (self.built.origin, self.built.endpoint)
        return [u for u in self.requests if not u.startswith(allowed) and not u.startswith("data:")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(browser, built: Built) -> Iterator[Session]:
    s = Session(browser, built)
    built.recorder.posts.clear()
    yield s
    assert s.errors == []
    assert s.foreign() == []  # nothing but the site and its intake endpoint
    s.close()


@pytest.mark.browser
def test_fill_and_submit_with_javascript(session: Session, built: Built) -> None:
    page = session.page
    session.open("forms/xinfeng-volunteers-winter/")
    page.get_by_role("textbox", name="姓名").fill("林小禾")
    page.get_by_role("textbox", name="手机号码").fill("138 0000 1234")
    page.get_by_label("年龄").fill("３５")
    page.get_by_label("楼道清扫").check()
    page.get_by_label("周末").check()
    page.get_by_label("最早可以开始的日期").fill("2026-12-01")
    page.get_by_label("我已阅读上方隐私说明", exact=False).check()
    page.get_by_role("button", name="提交").click()
    page.get_by_text("回执编号：GZ-TEST-0001").wait_for()
    assert len(built.recorder.posts) == 1
    post = built.recorder.posts[0]
    assert post["path"] == "/f/xinfeng-volunteers-winter"
    assert post["type"].startswith("application/json")
    values = post["values"]
    assert values["name"] == "林小禾"
    assert values["phone"] == "13800001234"  # normalised as the server would
    assert values["age"] == "35"
    assert values["services"] == ["楼道清扫"] and values["times"] == ["周末"]
    assert values["start_date"] == "2026-12-01" and values["consent"] == "同意"
    assert values["_hp"] == "" and len(values["_sid"]) == 32
    assert page.locator("#gz-form").is_hidden()


@pytest.mark.browser
def test_errors_in_chinese_block_submission(session: Session, built: Built) -> None:
    page = session.page
    session.open("forms/xinfeng-volunteers-winter/")
    page.get_by_role("button", name="提交").click()
    assert page.locator("#f-name-error").inner_text() == "请填写此项。"
    assert page.locator("#f-services-error").inner_text() == "请至少选择一项。"
    assert page.locator("#f-consent-error").inner_text() == "请阅读说明并勾选同意后再提交。"
    assert page.locator("#gz-summary").is_visible()
    assert "有 5 处需要修改" in page.locator("#gz-summary").inner_text()
    assert page.evaluate("document.activeElement.id") == "f-name"
    assert page.locator("#f-name").get_attribute("aria-invalid") == "true"
    # range
    page.get_by_label("年龄").fill("15")
    page.get_by_label("年龄").blur()
    assert page.locator("#f-age-error").inner_text() == "请填写 16 到 85 之间的数。"
    page.get_by_role("textbox", name="手机号码").fill("12345")
    page.get_by_role("textbox", name="手机号码").blur()
    assert "11 位手机号" in page.locator("#f-phone-error").inner_text()
    # pattern, on another form
    session.open("forms/xinfeng-topics-2026q4/")
    page.get_by_label("所在楼幢").fill("3号楼")
    page.get_by_role("button", name="提交").click()
    assert page.locator("#f-location-error").inner_text() == (
        "格式不对：楼幢号，或“楼幢-单元”，如 3 或 3-2。"
    )
    page.get_by_label("所在楼幢").fill("3-2")
    page.get_by_label("所在楼幢").blur()
    assert page.locator("#f-location-error").inner_text() == ""
    assert built.recorder.posts == []  # nothing was sent


@pytest.mark.browser
def test_keyboard_only(session: Session, built: Built) -> None:
    page = session.page
    session.open("forms/xinfeng-topics-2026q4/")
    page.locator("#f-topic").focus()
    kb = page.keyboard
    kb.type("3 幢门口电动车乱停")
    kb.press("Tab")  # to the first radio of 涉及方面
    assert page.evaluate("document.activeElement.name") == "area"
    kb.press("ArrowDown")  # 环境卫生 (arrow keys move and select within a radio group)
    kb.press("ArrowUp")  # back to 停车与交通
    kb.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-detail"
    kb.type("晚上电动车堵住单元门，老人出入不便。")
    kb.press("Tab")
    kb.type("3")
    kb.press("Tab")
    kb.press("Space")  # 愿意参加
    kb.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "提交"  # the honeypot is skipped
    kb.press("Enter")
    page.get_by_text("提交成功，感谢您的参与！").wait_for()
    values = built.recorder.posts[0]["values"]
    assert values["topic"] == "3 幢门口电动车乱停"
    assert values["area"] == "停车与交通"
    assert values["location"] == "3" and values["attend"] == "愿意参加"


@pytest.mark.browser
def test_without_javascript_plain_post_and_thank_you(browser, built: Built) -> None:
    built.recorder.posts.clear()
    s = Session(browser, built, javascript=False)
    try:
        s.open("forms/xinfeng-topics-2026q4/")
        page = s.page
        page.fill("#f-topic", "垃圾分类亭异味")
        page.check("#f-area-2")
        page.fill("#f-detail", "夏天味道很大，建议加装除臭设备。")
        page.click("button[type=submit]")
        page.wait_for_url(f"{built.origin}/forms/xinfeng-topics-2026q4/thanks/")
        assert "提交成功" in page.inner_text("article")
        post = built.recorder.posts[0]
        assert post["type"] == "application/x-www-form-urlencoded"
        values = post["values"]
        assert values["topic"] == "垃圾分类亭异味" and values["area"] == "环境卫生"
        assert values["_hp"] == ""
        assert values["_next"] == f"{SITE_URL}forms/xinfeng-topics-2026q4/thanks/"
        assert s.foreign() == []
    finally:
        s.close()


@pytest.mark.browser
def test_qr_code_decodes_to_the_form_url(session: Session) -> None:
    import zxingcpp
    from PIL import Image

    session.open("forms/xinfeng-feedback/")
    svg = session.page.locator(".gz-qr svg").first
    png = svg.screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    url = public_url(SITE_URL, "xinfeng-feedback")
    assert [r.text for r in decoded] == [url]
    # the same symbol as segno makes for that URL (its PNG decodes to the same text)
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=6, border=4)
    reference = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert [r.text for r in reference] == [url]
    # and the page's SVG is that very symbol: the same paths as segno's own SVG of the URL
    page_paths = svg.evaluate("e => [...e.querySelectorAll('path')].map(p => p.getAttribute('d'))")
    expected = segno.make(url, error="m", micro=False).svg_inline(
        scale=4, border=4, dark="#000", light="#fff"
    )
    assert page_paths == re.findall(r' d="([^"]+)"', expected)


@pytest.mark.browser
def test_prefill_from_project_page_link(session: Session) -> None:
    session.open("forms/nanyuan-bench-review-2026/?project=xinzhou-elevator-service")
    assert session.page.locator("#f-project").input_value() == "xinzhou-elevator-service"
    session.open("forms/nanyuan-bench-review-2026/?project=not-a-project")
    assert session.page.locator("#f-project").input_value() == ""


@pytest.mark.browser
def test_browser_rules_say_exactly_what_python_says(session: Session) -> None:
    """forms.js runs the shared case table of test_forms_rules.py: same messages, always."""
    from test_forms_rules import CASES, FIELDS, make_form

    rules = browser_rules(make_form(*FIELDS.values()))
    session.open("forms/xinfeng-feedback/")
    got = session.page.evaluate(
        """([rules, cases]) => {
            const checker = new window.GongzhiForms.Checker(rules);
            const byName = Object.fromEntries(rules.fields.map(f => [f.name, f]));
            return cases.map(([name, value]) => {
                const field = byName[name];
                return checker.check(field, checker.normalize(field, value));
            });
        }""",
        [rules, [[name, value] for name, value, _ in CASES]],
    )
    assert got == [expected for _, _, expected in CASES]


# --- the whole loop with the real intake service ---------------------------------------------


def _keep_open(path: Path) -> None:
    """Move a form definition's dates so that it is open today in China (and for 30 days)."""
    from generator.intake.formsbridge import china_today

    today = china_today()
    text = path.read_text("utf-8")
    opens = dt.date.fromisoformat(re.search(r"^opens: (\S+)$", text, re.M).group(1))
    closes = dt.date.fromisoformat(re.search(r"^closes: (\S+)$", text, re.M).group(1))
    text = re.sub(r"^opens: \S+$", f"opens: {min(opens, today).isoformat()}", text, flags=re.M)
    text = re.sub(r"^closes: \S+$", f"closes: {max(closes, today + dt.timedelta(days=30)).isoformat()}", text, flags=re.M)
    path.write_text(text, "utf-8")


@pytest.fixture(scope="module")
def intake_service(
    built: Built, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """``gongzhi intake serve`` on the copied data, answering to the locally served site."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    tmp = tmp_path_factory.mktemp("forms-intake")
    # The service checks form dates against the real clock in China: keep the form this test
    # posts to open whatever day the suite runs, in a copy of the data the service reads.
    data = tmp / "data"
    shutil.copytree(built.data, data)
    _keep_open(data / "forms" / "xinfeng-topics-2026q4.yaml")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp / "intake.sqlite3"
    log_path = tmp / "intake.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "generator.cli", "intake", "serve", "--db", str(db),
             "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
             "--site-url", built.origin + "/"],
            cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"intake service did not start: {log_path.read_text('utf-8', 'replace')}")
        time.sleep(0.2)
    yield url, db
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.browser
def test_page_to_intake_to_export_to_ingest(
    browser, built: Built, intake_service, tmp_path: Path
) -> None:
    """A resident submits with and without JavaScript; staff export; ingest reads the export."""
    import subprocess
    import sys

    from generator.forms.responses import read_responses

    url, db = intake_service
    action = f"{url}/f/xinfeng-topics-2026q4"
    with_js = Session(browser, built)
    try:
        with_js.open("forms/xinfeng-topics-2026q4/")
        page = with_js.page
        page.evaluate("a => { document.getElementById('gz-form').action = a; }", action)
        page.get_by_role("textbox", name="议题").fill("楼道堆物清理")
        page.get_by_label("安全隐患").check()
        page.get_by_label("旁听即可").check()
        page.get_by_role("button", name="提交").click()
        page.get_by_text("回执编号", exact=False).wait_for()
        assert with_js.errors == []
    finally:
        with_js.close()
    no_js = Session(browser, built, javascript=False)
    try:
        no_js.open("forms/xinfeng-topics-2026q4/")
        page = no_js.page
        page.evaluate("a => { document.getElementById('gz-form').action = a; }", action)
        page.fill("#f-topic", "小区路灯不亮")
        page.check("#f-area-5")  # 安全隐患
        page.fill("#f-location", "１２")  # full-width digits, as typed with a Chinese IME
        page.click("button[type=submit]")
        page.wait_for_url(f"{built.origin}/forms/xinfeng-topics-2026q4/thanks/")
        assert "提交成功" in page.inner_text("article")
    finally:
        no_js.close()
    out = tmp_path / "responses.csv"
    done = subprocess.run(
        [sys.executable, "-m", "generator.cli", "intake", "export", "xinfeng-topics-2026q4",
         "--out", str(out), "--db", str(db), "--data", str(built.data)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    form = load_forms_for_use(built.data)["xinfeng-topics-2026q4"]
    responses = read_responses(form, out)
    assert responses.issues == [] and responses.encoding == "UTF-8-BOM"
    rows = sorted(responses.rows, key=lambda r: str(r["topic"]))
    assert [(r["topic"], r["area"], r["location"], r["attend"]) for r in rows] == [
        ("小区路灯不亮", "安全隐患", "12", ""),
        ("楼道堆物清理", "安全隐患", "", "旁听即可"),
    ]


@pytest.mark.browser
def test_page_built_before_the_close_date_closes_itself(session: Session) -> None:
    """A static page outlives its close date: the script hides the form after it (China time)."""
    page = session.page
    page.clock.set_fixed_time(dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC))  # 09:00 in China
    session.open("forms/xinfeng-volunteers-winter/")  # closes 2026-12-05
    assert page.locator("#gz-form").is_hidden()
    assert (
        page.locator(".gz-form-closed").inner_text()
        == "本表单已于 2026年12月5日截止，不再接收填写。"
    )
    page.clock.set_fixed_time(dt.datetime(2026, 12, 5, 15, 0, tzinfo=dt.UTC))  # 23:00 on the 5th
    session.open("forms/xinfeng-volunteers-winter/")
    assert page.locator("#gz-form").is_visible()


@pytest.mark.browser
@pytest.mark.parametrize(
    "rel",
    [
        "forms/xinfeng-volunteers-winter/",
        "forms/nanyuan-bench-review-2026/",
        "forms/xinfeng-parking-survey/",
        "forms/xinfeng-volunteers-winter/paper/",
        "forms/",
    ],
)
def test_axe_finds_no_accessibility_violations(session: Session, rel: str) -> None:
    """axe-core (bundled with axe-playwright-python, run locally) over the form content.

    The forms' own elements and the rest of the article (links coloured by the site theme) are
    checked against every rule, colour contrast included.
    """
    from axe_playwright_python.sync_playwright import Axe

    page = session.page
    session.open(rel)
    if rel == "forms/xinfeng-volunteers-winter/":
        page.get_by_role("button", name="提交").click()  # with the error messages showing too
    axe = Axe()
    own = [[s] for s in (".gz-form", ".gz-paper", ".gz-results-block", ".gz-privacy")
           if page.locator(s).count()]  # fmt: skip
    found = []
    if own:
        found += axe.run(page, context={"include": own}).response["violations"]
    rest = axe.run(page, context={"include": [["article"]]})
    found += rest.response["violations"]
    assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in found] == []
