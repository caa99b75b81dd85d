"""Comparing two built sites file by file (incremental, sharded and single builds)."""

from __future__ import annotations

import re
from pathlib import Path

# Pagefind writes its filter files and the entry naming them in a different order on every
# run, whatever the input (two full builds differ there too); its page fragments do not.
UNSTABLE = re.compile(r"^pagefind/(?:[^/]+/)?(?:filter/|pagefind\.[^/]*\.pf_meta$|pagefind-entry\.json$)")


def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a built site by its path, but Pagefind's run-dependent ones."""
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()
            and not UNSTABLE.match(p.relative_to(site).as_posix())}
