"""What the render stage produces: Markdown pages from templates, and files written as they are.

Feature modules (portal, statistics and reports, forms) each expose a provider
``def pages(ctx: RenderContext) -> Iterable[Page | Asset]``; the render stage collects them
all, renders every ``Page`` with Jinja2 from ``site_templates/`` and writes each file into the
generated docs folder only when its bytes changed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.model import Dataset


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Adds the seconds spent inside to ``timings[key]``: the build's stage and step timings."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class Page:
    path: str  # relative to the docs folder, POSIX, e.g. "communities/xinfeng.md"
    template: str  # a template in site_templates/, e.g. "community.md"
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Asset:
    path: str  # relative to the docs folder, e.g. "data/communities.csv", "qr/feedback.svg"
    content: bytes | Path  # the bytes, or a file to copy (large data files are not held in memory)
    # True when ``content`` is a file that is never rewritten in place (a content-addressed
    # cache file): it is then hard-linked into the docs folder instead of copied.
    linkable: bool = False


@dataclass
class RenderContext:
    """Inputs shared by every page provider. Derived figures are computed once, in ``derived``."""

    dataset: Dataset
    today: dt.date
    site_url: str  # public base URL, from mkdocs.yml site_url, ends with "/"
    edit_base: str | None  # repo_url + edit_uri, for "编辑此数据" links; None when not set
    derived: dict[str, Any] = field(default_factory=dict)  # e.g. {"stats": SiteStats, "forms": [...]}


Provider = Callable[[RenderContext], Iterable[Page | Asset]]
