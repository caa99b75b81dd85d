"""The responses CSV staff download: exactly the file ``gongzhi forms ingest`` reads.

Columns and cells come from the shared rules (``response_columns`` / ``response_row``). The file
is UTF-8 with a byte-order mark, so that Excel and WPS open the Chinese text correctly.

Spreadsheet formula injection: a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with an apostrophe, which spreadsheets show as text and never run
(OWASP "CSV Injection"). A number column's validated plain numbers (``-3``, ``+2.5``) are data
that no spreadsheet evaluates as a formula, so they are written as they are.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from generator.forms.model import Form
from generator.forms.rules import NUMBER_PATTERN
from generator.intake import formsbridge
from generator.intake.storage import iter_submissions

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"
_PLAIN_NUMBER = re.compile(NUMBER_PATTERN, re.ASCII)
ENCODING = "utf-8-sig"


def neutralise(cell: str, numeric: bool = False) -> str:
    """The cell as a spreadsheet will show it, never as a formula to run."""
    if not cell or not cell.startswith(FORMULA_TRIGGERS):
        return cell
    if numeric and _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return NEUTRALISER + cell


@dataclass(frozen=True)
class Export:
    form_id: str
    text: str  # the CSV, without the byte-order mark (add it when writing bytes)
    rows: int

    def to_bytes(self) -> bytes:
        return self.text.encode(ENCODING)


def export_form(conn: sqlite3.Connection, form: Form) -> Export:
    """The whole responses file of one form, read in one consistent snapshot."""
    numeric = formsbridge.numeric_fields(form)
    header = formsbridge.export_header(form)
    numeric_columns = [name in numeric for name in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    rows = 0
    conn.execute("BEGIN")  # a read transaction: one snapshot even while the service writes
    try:
        for submission in iter_submissions(conn, form.id):
            row = formsbridge.export_row(
                form, submission.answers, submission.receipt, submission.received_at
            )
            writer.writerow(
                [
                    neutralise(cell, numeric)
                    for cell, numeric in zip(row, numeric_columns, strict=True)
                ]
            )
            rows += 1
    finally:
        conn.execute("COMMIT")
    return Export(form.id, buffer.getvalue(), rows)


def write_export(export: Export, out: Path) -> None:
    """Write the file atomically: a half-written export never replaces a good one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(export.to_bytes())
    partial.replace(out)
