"""A real browser without JavaScript posts a portal form to the intake service.

The portal is a static page served from another local port (another origin), as in production:
the browser sends its own Origin header, follows the 303 to the portal's thank-you page, and,
when a required answer is missing, gets the form again from the service with the Chinese error
beside the field, corrects it with the keyboard alone and submits again.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from chromium import ARGS, require_chromium, serve_folder
from test_intake_support import Server, free_port, write_forms

from generator.forms import rules

pytestmark = pytest.mark.browser



def portal_form(action: str, thanks: str) -> str:
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>测试表单</title></head>
<body><main><h1>测试表单</h1>
<form method="post" action="{html.escape(action)}" accept-charset="utf-8">
<label for="nickname">称呼</label><input id="nickname" name="nickname">
<fieldset><legend>类别</legend>
<label><input type="radio" name="topic" value="环境卫生">环境卫生</label>
<label><input type="radio" name="topic" value="公共设施">公共设施</label></fieldset>
<fieldset><legend>关心的事</legend>
<label><input type="checkbox" name="tags" value="停车">停车</label>
<label><input type="checkbox" name="tags" value="绿化">绿化</label></fieldset>
<label for="score">满意度</label><input id="score" name="score">
<label for="phone">联系电话</label><input id="phone" name="phone" type="tel">
<label><input type="checkbox" name="consent" value="同意">我同意</label>
<input type="hidden" name="_next" value="{html.escape(thanks)}">
<div style="position:absolute;left:-10000px" aria-hidden="true"><input name="_hp" tabindex="-1"></div>
<button type="submit">提交</button>
</form></main></body></html>"""


@pytest.fixture()
def setup(tmp_path: Path):
    from playwright.sync_api import sync_playwright
    portal_port = free_port()
    portal = f"http://127.0.0.1:{portal_port}/"
    write_forms(tmp_path / "data")
    server = Server(
        tmp_path / "data",
        tmp_path / "intake.sqlite3",
        tmp_path / "server.log",
        "--rate-limit",
        "1000",
        "--burst",
        "1000",
        site_url=portal,
    ).start()
    site = tmp_path / "site"
    (site / "forms" / "t-open" / "thanks").mkdir(parents=True)
    (site / "forms" / "t-open" / "index.html").write_text(
        portal_form(f"http://127.0.0.1:{server.port}/f/t-open", f"{portal}forms/t-open/thanks/"),
        "utf-8",
    )
    (site / "forms" / "t-open" / "thanks" / "index.html").write_text(
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>提交成功</title><h1>提交成功</h1></html>',
        "utf-8",
    )
    with serve_folder(site, portal_port), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=ARGS)
        context = browser.new_context(java_script_enabled=False, locale="zh-CN")
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        try:
            yield page, portal, server, requests
        finally:
            browser.close()
            server.stop()


def test_no_javascript_post_redirect_get_and_correction_by_keyboard(setup):
    page, portal, server, requests = setup
    page.goto(f"{portal}forms/t-open/")
    page.check("input[name=topic][value=公共设施]")
    page.check("input[name=tags][value=停车]")
    page.fill("#score", "5")
    page.fill("#phone", "138 0013 8000")
    page.check("input[name=consent]")
    page.click("button[type=submit]")  # nickname (required) left empty

    page.wait_for_load_state()
    assert urlsplit(page.url).port == server.port  # the service's own page
    assert page.title() == "测试表单 t-open：请修改后重新提交"
    assert page.inner_text("#e-nickname") == rules.MESSAGES["required"]
    assert page.input_value("#f-phone") == "138 0013 8000"  # answers kept
    assert page.is_checked("input[name=topic][value=公共设施]")
    assert page.is_checked("input[name=tags][value=停车]")
    assert server.rows("t-open") == []

    # keyboard only: from the error summary link to the field, type, submit with Enter
    page.focus("#summary a[href='#f-nickname']")
    page.keyboard.press("Enter")
    page.focus("#f-nickname")
    page.keyboard.type("王阿姨")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{portal}forms/t-open/thanks/")
    assert page.inner_text("h1") == "提交成功"

    rows = server.rows("t-open")
    assert len(rows) == 1
    assert rows[0]["nickname"] == "王阿姨" and rows[0]["phone"] == "13800138000"
    assert rows[0]["tags"] == ["停车"] and rows[0]["score"] == "5"
    for url in requests:  # nothing but the two local origins
        assert urlsplit(url).hostname == "127.0.0.1", url


def test_a_page_on_another_site_cannot_post_into_the_service(setup, tmp_path: Path):
    page, portal, server, _ = setup
    # a page served from a third origin (here: a data: URL, whose origin is "null")
    forged = portal_form(f"http://127.0.0.1:{server.port}/f/t-open", "https://evil.example/")
    page.set_content(forged)
    page.fill("#nickname", "机器人")
    page.check("input[name=topic][value=公共设施]")
    page.check("input[name=consent]")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "只接受从本门户网站提交的表单" in page.content()
    assert server.rows("t-open") == []


FETCH_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>fetch</title></head>
<body><pre id="out">waiting</pre><script>
async function send(values) {
  try {
    const response = await fetch(ENDPOINT, {
      method: "POST", mode: "cors", credentials: "omit",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(values)
    });
    return {status: response.status, data: await response.json()};
  } catch (error) {
    return {status: 0, error: String(error)};
  }
}
</script></body></html>"""


def test_fetch_from_the_portal_passes_cors_and_a_foreign_page_cannot_read_or_write(tmp_path: Path):
    from playwright.sync_api import sync_playwright
    portal_port = free_port()
    portal = f"http://127.0.0.1:{portal_port}/"
    write_forms(tmp_path / "data")
    server = Server(
        tmp_path / "data", tmp_path / "intake.sqlite3", tmp_path / "server.log",
        "--rate-limit", "1000", "--burst", "1000", site_url=portal,
    ).start()  # fmt: skip
    endpoint = f"http://127.0.0.1:{server.port}/f/t-open"
    for folder in ("portal", "foreign"):  # the same page, served from two origins
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "page.html").write_text(FETCH_PAGE.replace("ENDPOINT", repr(endpoint)), "utf-8")
    valid = {
        "nickname": "王阿姨", "topic": "公共设施", "tags": ["停车"], "score": "4",
        "consent": "同意", "_hp": "", "_sid": "0123456789abcdef0123456789abcdef",
    }  # fmt: skip
    try:
        with (
            serve_folder(tmp_path / "portal", portal_port),
            serve_folder(tmp_path / "foreign") as foreign,
            sync_playwright() as p,
        ):
            foreign_url = f"{foreign}/page.html"
            browser = p.chromium.launch(executable_path=require_chromium(), args=ARGS)
            page = browser.new_page()
            page.goto(f"{portal}page.html")
            ok = page.evaluate("values => send(values)", valid)
            assert ok["status"] == 201 and ok["data"]["ok"] is True and ok["data"]["receipt"]
            again = page.evaluate("values => send(values)", valid)  # a retry: same receipt
            assert again["data"]["receipt"] == ok["data"]["receipt"]
            bad = page.evaluate("values => send(values)", {**valid, "_sid": None, "score": "9"})
            assert bad["status"] == 422
            assert bad["data"]["errors"] == {"score": rules.MESSAGES["rating"]}

            page.goto(foreign_url)  # another origin: the preflight is refused
            refused = page.evaluate("values => send(values)", {**valid, "_sid": None})
            assert refused["status"] == 0 and "Failed to fetch" in refused["error"]
            browser.close()
    finally:
        server.stop()
    rows = server.rows("t-open")
    assert len(rows) == 1 and rows[0]["nickname"] == "王阿姨"
