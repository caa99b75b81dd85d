"""Static SVG charts: Chinese labels as <text>, accessible, self-contained, cached."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from generator.chartfont import FONT_PATH, build_font
from generator.charts import (
    ChartRenderer,
    bar_chart,
    compose_line,
    draw_line_frame,
    draw_svg,
    frame_spec,
    line_chart,
    table_for,
)

SVG = "{http://www.w3.org/2000/svg}"
QUARTERS = ["2025年4季度", "2026年1季度", "2026年2季度", "2026年3季度"]


def _trend():
    return line_chart("新丰社区：近4个季度趋势", QUARTERS,
                      [("按期办结率", [0.9, None, 0.95, 0.93]), ("网格内解决率", [0.7, 0.72, 0.75, 0.74])])


def test_labels_are_text_elements_not_paths():
    svg = draw_svg(_trend())
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # a quarter's tick label is two lines, the year over the quarter, so five fit on a phone
    for label in ["2025年", "2026年", "4季度", "1季度", "按期办结率", "网格内解决率",
                  "新丰社区：近4个季度趋势", "100%"]:
        assert label in texts
    assert "font-family" in svg and "PingFang SC" in svg  # drawn by the reader's system font
    bars = draw_svg(bar_chart("事件类别", ["环境卫生", "公共设施"], [12, 3], "件数", unit=" 件"))
    assert {"环境卫生", "公共设施", "12 件", "3 件", "事件类别"} <= {t.text for t in ET.fromstring(bars).iter(f"{SVG}text")}


def test_accessible_and_self_contained():
    spec = _trend()
    svg = draw_svg(spec)
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == spec.title and "2026年2季度 95.0%" in desc.text and "2026年1季度 —" in desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert not svg.startswith("<?xml") and "<metadata" not in svg and "width=" not in svg.split(">")[0]
    urls = set(re.findall(r"https?://[^\"' )]+", svg))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}  # namespaces only


def test_ids_are_unique_between_charts_on_one_page():
    one, two = draw_svg(_trend()), draw_svg(line_chart("另一张", QUARTERS, [("满意率", [0.9, 0.9, 0.9, 0.9])]))
    ids_one = re.findall(r'\sid="([^"]+)"', one)
    ids_two = re.findall(r'\sid="([^"]+)"', two)
    assert ids_one and not set(ids_one) & set(ids_two)
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', one):
        assert (ref[0] or ref[1]) in ids_one  # every reference resolves inside the chart


def test_data_table_follows_the_chart():
    chart = ChartRenderer(workers=1).render(_trend())
    assert chart.table_headers == ("", "按期办结率", "网格内解决率")
    assert chart.table_rows[1] == ("2026年1季度", "—", "72.0%")
    html = chart.__html__()
    assert html.startswith('<figure class="gz-chart"><svg') and "（数据见下表）" in html and "\n\n" not in html
    assert table_for(bar_chart("t", ["a"], [1234], "件数", unit=" 件"))[1] == (("a", "1,234 件"),)


def test_rendering_is_deterministic_and_cached(tmp_path):
    assert draw_svg(_trend()) == draw_svg(_trend())
    renderer = ChartRenderer(tmp_path, workers=1)
    first = renderer.render_many([_trend(), _trend()])
    assert renderer.drawn == 1 and first[0].svg == first[1].svg
    again = ChartRenderer(tmp_path, workers=1)
    assert again.render(_trend()).svg == first[0].svg and again.drawn == 0  # read from disk
    assert len(list(tmp_path.glob("*.svg"))) == 1


def test_fast_trend_charts_match_matplotlib():
    """Trend charts drawn from a shared frame put every point where matplotlib puts it."""
    spec = line_chart("对照", ["甲", "乙", "丙"], [("按期办结率", [0.0, 0.5, 1.0]), ("满意率", [0.9, None, 0.8])])
    slow = draw_svg(spec)
    fast = ChartRenderer(workers=1).render(spec).svg
    assert ChartRenderer(workers=1, fast_lines=False).render(spec).svg == slow

    def points(svg: str, colour: str) -> list[tuple[float, float]]:
        path = re.search(rf'<path d="([^"]+)"[^>]*stroke: {colour}', svg, re.I).group(1)
        return [tuple(map(float, p.split())) for p in re.findall(r"[\d.]+ [\d.]+", path)]

    series = fast[fast.index('class="gz-series"'):]  # the frame's legend comes first
    for got, want in zip(points(series, "#0072B2"), points(slow, "#0072B2"), strict=True):
        assert abs(got[0] - want[0]) < 0.01 and abs(got[1] - want[1]) < 0.01
    texts = lambda svg: sorted(t.text for t in ET.fromstring(svg).iter(f"{SVG}text"))  # noqa: E731
    assert texts(fast) == texts(slow)
    root = ET.fromstring(fast)
    assert root.find(f"{SVG}title").text == "对照" and "TITLE" not in fast and "PLACEHOLDER" not in fast
    group = root.find(f"{SVG}g[@class='gz-series']")
    assert len(list(group.iter(f"{SVG}circle"))) == 3 and len(list(group.iter(f"{SVG}rect"))) == 2  # markers


def test_phone_sized_with_no_text_under_12_units():
    """324 units wide (a 360 px phone's text column is 328 px), no text under 12: ≥ 12 px there."""
    long_names = bar_chart("各镇街按期办结率", ["东湖街道", "余杭经济技术开发区管委会"], [0.9, 0.8],
                           "按期办结率", percent=True)
    for svg in (draw_svg(_trend()), draw_svg(long_names),
                compose_line(draw_line_frame(frame_spec(_trend())), _trend())):
        assert re.search(r'viewBox="0 0 324 [0-9.]+"', svg)
        sizes = [float(size) for size in re.findall(r"font-size: ([0-9.]+)px", svg)]
        assert sizes and min(sizes) >= 12
    texts = [t.text for t in ET.fromstring(draw_svg(long_names)).iter(f"{SVG}text")]
    assert "余杭经济技术" in texts and "开发区管委会" in texts  # a long bar label wraps


def test_committed_metrics_font_is_what_the_code_builds():
    assert build_font() == FONT_PATH.read_bytes(), "请运行 python -m generator.chartfont 重新生成字体文件"
