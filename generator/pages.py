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


class Deferred:
    """A page's context or an asset's content made when it is written, not when collected.

    ``gongzhi build`` collects every page first, so MkDocs can start on the pages that need
    only the YAML while the rest are made. A provider wraps in ``Deferred(make)`` what needs
    figures the build is still making (the case statistics, the open-data export) or is slow
    to make (charts): such pages are written after the others. ``value()`` calls ``make``
    once, when the page is rendered or the asset written.
    """

    __slots__ = ("_make", "_value", "_made")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made = False
        self._value: Any = None

    def value(self) -> Any:
        if not self._made:
            self._value = self._make()
            self._made = True
        return self._value

    def then(self, pick: Callable[[Any], Any]) -> Deferred:
        """A ``Deferred`` of part of this one's value (made once for both)."""
        return Deferred(lambda: pick(self.value()))


def resolved(value: Any) -> Any:
    """``value``, or what it stands for when it is ``Deferred``."""
    return value.value() if isinstance(value, Deferred) else value


@dataclass(frozen=True)
class Page:
    path: str  # relative to the docs folder, POSIX, e.g. "communities/xinfeng.md"
    template: str  # a template in site_templates/, e.g. "community.md"
    context: dict[str, Any] | Deferred = field(default_factory=dict)


@dataclass(frozen=True)
class Asset:
    path: str  # relative to the docs folder, e.g. "data/communities.csv", "qr/feedback.svg"
    # the bytes, or a file to copy (large data files are not held in memory), or a Deferred
    # of either
    content: bytes | Path | Deferred
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
