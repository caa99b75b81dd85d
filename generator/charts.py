"""Static SVG charts made at build time with matplotlib.

Every chart is visible without JavaScript, keeps its Chinese labels as real ``<text>``
(``svg.fonttype: none``; the reader's system font draws them), carries ``role="img"`` with a
``<title>`` and ``<desc>``, and comes with its data table (``Chart.table``) which templates print
right after it. Charts print in black and white too: series differ by marker and dash, not only
by colour.

matplotlib takes some 35–65 ms per chart here (``bench/bench_stats.py --charts``), too slow for
the city tier's 3,000 community pages with a trend chart each. So trend charts that share their
quarters and series (every community page of a build) are composed from one matplotlib frame
(``compose_line``, about 2 ms each), and every chart is content-addressed: a ``ChartSpec`` is
hashed and its SVG kept in memory and, when a cache folder is given, on disk, so a rebuild draws
only charts whose figures changed; other missing charts render in parallel worker processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

STYLE_VERSION = "6"  # bump when the look changes, so cached SVGs are redrawn
FONT_STACK = (
    "-apple-system, BlinkMacSystemFont, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', sans-serif"
)
# Okabe–Ito colours (distinguishable with colour blindness), plus distinct markers and dashes.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P")
DASHES = ("-", "--", "-.", ":", "-", "--")


@dataclass(frozen=True)
class ChartSpec:
    """What to draw. ``kind`` is "line" (trend over periods) or "bar" (horizontal bars)."""

    kind: str
    title: str
    labels: tuple[str, ...]  # x categories (line) or bar labels (bar)
    series: tuple[tuple[str, tuple[float | None, ...]], ...]  # (name, values)
    percent: bool = True  # values are shares 0..1, shown as %
    unit: str = ""  # for non-percent values, e.g. "件"
    description: str = ""  # one sentence for screen readers (<desc>)

    def digest(self) -> str:
        cached = self.__dict__.get("_digest")
        if cached is None:
            payload = json.dumps([STYLE_VERSION, self.kind, self.title, self.labels, self.series,
                                  self.percent, self.unit, self.description], ensure_ascii=False)
            cached = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
            object.__setattr__(self, "_digest", cached)
        return cached


@dataclass(frozen=True)
class Chart:
    """A rendered chart: inline SVG in a ``<figure>``, and the table of its data."""

    spec: ChartSpec
    svg: str
    table_headers: tuple[str, ...] = field(default=())
    table_rows: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def title(self) -> str:
        return self.spec.title

    def __html__(self) -> str:
        # One HTML block without blank lines, so Markdown passes it through untouched.
        return (
            f'<figure class="gz-chart">{self.svg}'
            f"<figcaption>{escape(self.spec.title)}（数据见下表）</figcaption></figure>"
        )

    def __str__(self) -> str:
        return self.__html__()

    @property
    def html(self) -> Markup:
        return Markup(self.__html__())


def _format(value: float | None, spec: ChartSpec) -> str:
    if value is None:
        return "—"
    if spec.percent:
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}{spec.unit}" if float(value).is_integer() else f"{value:,.1f}{spec.unit}"


def table_for(spec: ChartSpec) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The chart's data as a table: one row per label, one column per series."""
    headers = ("", *(name for name, _ in spec.series))
    rows = tuple(
        (label, *(_format(values[i] if i < len(values) else None, spec) for _, values in spec.series))
        for i, label in enumerate(spec.labels)
    )
    return headers, rows


# ----------------------------------------------------------------------------- drawing

_MPL_READY = False


def _matplotlib():
    global _MPL_READY
    import matplotlib

    if not _MPL_READY:
        matplotlib.use("svg", force=False) if matplotlib.get_backend().lower() != "svg" else None
        from matplotlib import font_manager

        from .chartfont import FAMILY, FONT_PATH

        # Labels are measured with matplotlib's DejaVu Sans, and every character it lacks
        # (Chinese, full-width punctuation) with the project's own metrics font
        # (generator/chartfont.py): the same layout and bytes whatever fonts the machine has.
        font_manager.fontManager.addfont(str(FONT_PATH))
        matplotlib.rcParams.update(
            {
                "svg.fonttype": "none",  # text stays text
                "svg.hashsalt": "gongzhi",  # stable ids, so unchanged charts give equal bytes
                "font.family": ["DejaVu Sans", FAMILY],
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.titlesize": TITLE_PT,
                "font.size": TEXT_PT,
                "legend.fontsize": TEXT_PT,
            }
        )
        _MPL_READY = True
    from matplotlib.figure import Figure

    return Figure


LINE_WIDTH = 1.8
MARKER_SIZE = 5.0
TITLE_PLACEHOLDER = "GZ-TITLE-PLACEHOLDER"
# Phone first: a chart is drawn 4.5 in (324 pt) wide, about the width of a page's text column
# on a 360 px phone (328 px), so 1 pt in the SVG is about 1 px there, and no text is smaller
# than TEXT_PT (12 px on that phone; larger on wider screens, see report-print.css).
WIDTH_IN = 4.5
TEXT_PT = 12
TITLE_PT = 13
LABEL_CHARS = 7  # bar labels longer than this wrap onto a second line


def _tick_label(label: str) -> str:
    """"2025年3季度" → "2025年" over "3季度": five quarters fit side by side on a phone."""
    year, sep, rest = label.partition("年")
    return f"{year}年\n{rest}" if sep and rest else label


def _bar_label(label: str) -> str:
    if len(label) <= LABEL_CHARS:
        return label
    half = (len(label) + 1) // 2
    return label[:half] + "\n" + label[half:]


def _line_axes(figure_class, spec: ChartSpec, with_data: bool):
    rows = 1 + (len(spec.series) > 2)  # the legend sits above the axes, two names a row
    height = 2.9 + 0.22 * rows
    fig = figure_class(figsize=(WIDTH_IN, height))
    fig.subplots_adjust(left=0.15, right=0.93, top=1 - (0.5 + 0.22 * rows) / height,
                        bottom=0.5 / height)
    ax = fig.add_subplot()
    xs = list(range(len(spec.labels)))
    for i, (name, values) in enumerate(spec.series):
        ys = [float("nan") if v is None else (v * 100 if spec.percent else v) for v in values]
        ax.plot(xs if with_data else [], ys if with_data else [], label=name, color=COLOURS[i % 6],
                marker=MARKERS[i % 6], linestyle=DASHES[i % 6], linewidth=LINE_WIDTH,
                markersize=MARKER_SIZE)
    ax.set_xticks(xs, [_tick_label(label) for label in spec.labels])
    ax.set_xlim(-0.3, max(0, len(xs) - 1) + 0.3)
    if spec.percent:
        ax.set_ylim(0, 105)
        ax.set_yticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.14, 1.0), ncols=min(2, len(spec.series)),
              frameon=False, borderaxespad=0.2, handlelength=2.2, columnspacing=1.0)
    return fig, ax


def _title(fig, text: str) -> None:
    """The title across the top, left-aligned with the figure (above a line chart's legend)."""
    fig.text(0.02, 1 - 0.1 / fig.get_size_inches()[1], text, fontsize=TITLE_PT, ha="left", va="top")


def _save(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def draw_svg(spec: ChartSpec) -> str:
    """Draw one chart with matplotlib and return the cleaned SVG markup (no XML prolog)."""
    figure_class = _matplotlib()
    if spec.kind == "line":
        fig, ax = _line_axes(figure_class, spec, with_data=True)
    elif spec.kind == "bar":
        labels = [_bar_label(label) for label in spec.labels]
        lines = sum(label.count("\n") + 1 for label in labels)
        height = 0.95 + 0.3 * max(1, len(labels)) + 0.12 * (lines - len(labels))
        fig = figure_class(figsize=(WIDTH_IN, height))
        longest = max((len(line) for label in labels for line in label.split("\n")), default=2)
        fig.subplots_adjust(left=0.03 + longest * TEXT_PT / (WIDTH_IN * 72), right=0.95,
                            top=1 - 0.45 / height, bottom=0.36 / height)
        ax = fig.add_subplot()
        name, values = spec.series[0]
        ys = list(range(len(spec.labels)))[::-1]
        numbers = [0.0 if v is None else (v * 100 if spec.percent else v) for v in values]
        ax.barh(ys, numbers, color=COLOURS[0], height=0.62, label=name)
        ax.set_yticks(ys, labels)
        top = max(numbers + [1.0])
        ax.set_xlim(0, 122 if spec.percent else top * 1.3)  # room for the value after a bar
        for y, value, raw in zip(ys, numbers, values, strict=True):
            ax.text(value + (1.2 if spec.percent else top * 0.015), y, _format(raw, spec),
                    va="center")
        if spec.percent:
            ax.set_xticks([0, 50, 100], ["0%", "50%", "100%"])
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    else:
        raise ValueError(f"unknown chart kind: {spec.kind}")
    _title(fig, spec.title)
    return _clean(_save(fig), spec)


# --- the fast path for trend charts ----------------------------------------------------------
# Every community page of a build has a trend chart with the same quarters, series and axis;
# only the title and the values differ. matplotlib lays out that frame once (axes, ticks,
# legend, fonts); the lines and markers of each chart are then placed with the frame's own
# data-to-SVG transform, which costs well under a millisecond instead of tens.


@dataclass(frozen=True)
class LineFrame:
    svg: str  # matplotlib's SVG with empty series and a placeholder title
    x0: float  # SVG coordinates of the axes box (points)
    x1: float
    y_bottom: float
    y_top: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    prefix: str  # the id prefix in ``svg``, replaced by each chart's own


def frame_spec(spec: ChartSpec) -> ChartSpec:
    return ChartSpec("line", TITLE_PLACEHOLDER, spec.labels,
                     tuple((name, ()) for name, _ in spec.series), spec.percent, spec.unit)


DESC_PLACEHOLDER = "GZ-DESC-PLACEHOLDER"


def draw_line_frame(spec: ChartSpec) -> LineFrame:
    """The frame, drawn by matplotlib and cleaned once, with placeholders for title and desc."""
    figure_class = _matplotlib()
    fig, ax = _line_axes(figure_class, spec, with_data=False)
    _title(fig, TITLE_PLACEHOLDER)
    raw = _save(fig)
    width, height = (float(v) * 72 for v in fig.get_size_inches())
    box = ax.get_position()
    placeholder = ChartSpec("line", TITLE_PLACEHOLDER, spec.labels, spec.series, spec.percent,
                            spec.unit, DESC_PLACEHOLDER)
    return LineFrame(_clean(raw, placeholder), box.x0 * width, box.x1 * width, height - box.y0 * height,
                     height - box.y1 * height, tuple(ax.get_xlim()), tuple(ax.get_ylim()),
                     _prefix(placeholder))


_DASH_ARRAYS = {"-": None, "--": (3.7, 1.6), "-.": (6.4, 1.6, 1.0, 1.6), ":": (1.0, 1.65)}


def _marker(kind: str, x: float, y: float) -> str:
    """One marker; its colour comes from the series' group."""
    r = MARKER_SIZE / 2
    if kind == "o":
        return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{r:.2f}"/>'
    if kind == "s":
        return f'<rect x="{x - r:.2f}" y="{y - r:.2f}" width="{2 * r:.2f}" height="{2 * r:.2f}"/>'
    shapes = {
        "^": [(0, -r), (-r, r), (r, r)], "v": [(0, r), (-r, -r), (r, -r)],
        "D": [(0, -r), (r, 0), (0, r), (-r, 0)],
        "P": [(-r / 3, -r), (r / 3, -r), (r / 3, -r / 3), (r, -r / 3), (r, r / 3), (r / 3, r / 3),
              (r / 3, r), (-r / 3, r), (-r / 3, r / 3), (-r, r / 3), (-r, -r / 3), (-r / 3, -r / 3)],
    }
    points = " ".join(f"{x + dx:.2f},{y + dy:.2f}" for dx, dy in shapes[kind])
    return f'<polygon points="{points}"/>'


def compose_line(frame: LineFrame, spec: ChartSpec) -> str:
    """A trend chart from its frame: the series' lines and markers, the real title."""
    (xa, xb), (ya, yb) = frame.xlim, frame.ylim

    def sx(x: float) -> float:
        return frame.x0 + (x - xa) / (xb - xa) * (frame.x1 - frame.x0)

    def sy(y: float) -> float:
        return frame.y_bottom - (y - ya) / (yb - ya) * (frame.y_bottom - frame.y_top)

    parts = ['<g class="gz-series">']
    for i, (_name, values) in enumerate(spec.series):
        colour, dashes = COLOURS[i % 6], _DASH_ARRAYS[DASHES[i % 6]]
        points = [(sx(x), sy(v * 100 if spec.percent else v)) if v is not None else None
                  for x, v in enumerate(values)]
        runs, run = [], []
        for point in points:  # a missing value breaks the line, as matplotlib does with NaN
            if point is None:
                runs.append(run)
                run = []
            else:
                run.append(point)
        runs.append(run)
        dash = f"; stroke-dasharray: {','.join(f'{d * LINE_WIDTH:.2f}' for d in dashes)}" if dashes else ""
        for run in runs:
            if len(run) > 1:
                d = "M " + " L ".join(f"{x:.2f} {y:.2f}" for x, y in run)
                parts.append(f'<path d="{d}" style="fill: none; stroke: {colour}; '
                             f'stroke-width: {LINE_WIDTH}; stroke-linecap: round{dash}"/>')
        parts.append(f'<g style="fill: {colour}; stroke: {colour}; stroke-width: 1">')
        parts += [_marker(MARKERS[i % 6], x, y) for x, y in (p for p in points if p)]
        parts.append("</g>")
    parts.append("</g>")
    svg = (frame.svg.replace(frame.prefix, _prefix(spec))
           .replace(f">{TITLE_PLACEHOLDER}<", f">{escape(spec.title)}<")
           .replace(f">{DESC_PLACEHOLDER}<", f">{escape(spec.description or _describe(spec))}<", 1))
    end = svg.rindex("</svg>")
    return svg[:end] + "".join(parts) + svg[end:]


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\sid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')
_SIZE = re.compile(r'<svg ([^>]*?)width="[^"]+" height="[^"]+" ')
_FONT = re.compile(r"; font-family: [^;\"]+|font-family: [^;\"]+; |font-family: [^;\"]+")
_EMPTY_STYLE = re.compile(r' style=""')
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [^"]*\)"')
_ATTRIBUTE = re.compile(r'="([^"]*)"')
_LONG_NUMBER = re.compile(r"-?\d+\.\d{3,}")
_G_TAG = re.compile(r"<g>|<g\s[^>]*>|</g>")
_BETWEEN_TAGS = re.compile(r">\s+<")
_PATH_WS = re.compile(r"\s*\n\s*")


def _prefix(spec: ChartSpec) -> str:
    return "c" + spec.digest()[:8] + "-"


def _clean(svg: str, spec: ChartSpec) -> str:
    """Make matplotlib's SVG fit inline in an HTML page, several per page, accessible."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg)
    prefix = _prefix(spec)
    referenced = {m.group(2) for m in _REF.finditer(svg)}
    # ids must be unique in the page: keep (prefixed) only the referenced ones
    svg = _ID.sub(lambda m: f' id="{prefix}{m.group(1)}"' if m.group(1) in referenced else "", svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
    # Weight (a community page carries a trend chart): the font stack is said once, on the
    # <svg>, not on every <text>; coordinates keep two decimals (1/100 pt); matplotlib's
    # no-op rotations and its groups without attributes go.
    svg = _EMPTY_STYLE.sub("", _FONT.sub("", svg))
    svg = _NO_ROTATION.sub("", svg)
    svg = _ATTRIBUTE.sub(lambda m: '="' + _LONG_NUMBER.sub(_two_decimals, m.group(1)) + '"', svg)
    svg = _without_bare_groups(svg)
    title_id, desc_id = prefix + "title", prefix + "desc"
    font = FONT_STACK.replace('"', "'")
    svg = _SIZE.sub(
        rf'<svg \1role="img" aria-labelledby="{title_id} {desc_id}" class="gz-chart-svg" '
        f'preserveAspectRatio="xMinYMin meet" style="font-family: {font}" ',
        svg,
        count=1,
    )
    head_end = svg.index(">") + 1
    description = spec.description or _describe(spec)
    svg = (
        svg[:head_end]
        + f'<title id="{title_id}">{escape(spec.title)}</title><desc id="{desc_id}">{escape(description)}</desc>'
        + svg[head_end:]
    )
    svg = _PATH_WS.sub(" ", svg)
    svg = _BETWEEN_TAGS.sub("><", svg)
    return svg.strip()


def _two_decimals(match: re.Match[str]) -> str:
    text = f"{float(match.group(0)):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _without_bare_groups(svg: str) -> str:
    """Drop every ``<g>`` that has no attributes, with its own ``</g>``; keep its content."""
    out, bare, last = [], [], 0
    for tag in _G_TAG.finditer(svg):
        out.append(svg[last:tag.start()])
        last = tag.end()
        if tag.group(0) == "</g>":
            if not bare.pop():
                out.append("</g>")
        else:
            bare.append(tag.group(0) == "<g>")
            if not bare[-1]:
                out.append(tag.group(0))
    out.append(svg[last:])
    return "".join(out)


def _describe(spec: ChartSpec) -> str:
    parts = []
    for name, values in spec.series:
        pairs = "，".join(f"{label} {_format(v, spec)}" for label, v in zip(spec.labels, values, strict=False))
        parts.append(f"{name}：{pairs}")
    return "；".join(parts) + "。"


# ----------------------------------------------------------------------------- caching


class ChartRenderer:
    """Renders specs once: in-process memo plus an optional on-disk cache keyed by digest."""

    def __init__(self, cache_dir: Path | None = None, workers: int | None = None,
                 fast_lines: bool = True):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.fast_lines = fast_lines  # trend charts from a shared frame (see compose_line)
        self._frames: dict[ChartSpec, LineFrame] = {}
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._memo: dict[str, str] = {}
        self.drawn = 0  # charts actually drawn (cache misses), for measurements

    def _cached(self, digest: str) -> str | None:
        if digest in self._memo:
            return self._memo[digest]
        if self.cache_dir:
            path = self.cache_dir / f"{digest}.svg"
            if path.is_file():
                svg = path.read_text("utf-8")
                self._memo[digest] = svg
                return svg
        return None

    def _store(self, digest: str, svg: str) -> None:
        self._memo[digest] = svg
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"{digest}.svg.tmp{os.getpid()}"
            tmp.write_text(svg, "utf-8")
            tmp.replace(self.cache_dir / f"{digest}.svg")

    def render_many(self, specs: Iterable[ChartSpec]) -> list[Chart]:
        specs = list(specs)
        missing: dict[str, ChartSpec] = {}
        for spec in specs:
            digest = spec.digest()
            if self._cached(digest) is None:
                missing.setdefault(digest, spec)
        lines = {d: s for d, s in missing.items() if s.kind == "line" and self.fast_lines}
        for digest, spec in lines.items():
            key = frame_spec(spec)
            frame = self._frames.get(key)
            if frame is None:
                frame = self._frames[key] = draw_line_frame(key)
            self._store(digest, compose_line(frame, spec))
            missing.pop(digest)
            self.drawn += 1
        if missing:
            todo = list(missing.items())
            if self.workers > 1 and len(todo) >= 32:
                with ProcessPoolExecutor(self.workers) as pool:
                    svgs = list(pool.map(draw_svg, [s for _, s in todo], chunksize=16))
            else:
                svgs = [draw_svg(s) for _, s in todo]
            for (digest, _), svg in zip(todo, svgs, strict=True):
                self._store(digest, svg)
            self.drawn += len(todo)
        charts = []
        for spec in specs:
            headers, rows = table_for(spec)
            charts.append(Chart(spec, self._memo[spec.digest()], headers, rows))
        return charts

    def render(self, spec: ChartSpec) -> Chart:
        return self.render_many([spec])[0]


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
               percent: bool = True, unit: str = "", description: str = "") -> ChartSpec:
    return ChartSpec("line", title, tuple(labels), tuple((n, tuple(v)) for n, v in series),
                     percent, unit, description)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], name: str,
              percent: bool = False, unit: str = "", description: str = "") -> ChartSpec:
    return ChartSpec("bar", title, tuple(labels), ((name, tuple(values)),), percent, unit, description)
