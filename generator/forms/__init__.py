"""Participation forms (参与表单): definitions, rules, pages, paper, schemas and results.

The render stage collects ``pages`` from this package (see ``generator.render``); the build's
derive stage may call ``derive`` first so that portal pages can embed their forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: the intake service needs only rules and definitions
    from generator.pages import Asset, Page, RenderContext


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    from generator.forms.site import pages as form_pages

    return form_pages(ctx)


def derive(ctx: RenderContext) -> Any:
    """``FormsSite`` for ``ctx.derived["forms"]`` (also stored there)."""
    from generator.forms.site import forms_site

    return forms_site(ctx)
