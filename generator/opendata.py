"""The open-data page: the Data Package and every table as CSV and JSON.

The tables are the validator's typed rows (``CheckResult.tables``, passed to the render stage
as ``ctx.derived["tables"]``), so what is published is exactly what was validated. Case
records can be millions of rows: they are exported with DuckDB straight from the validated
case files, as CSV only. The package descriptor is ``data/datapackage.yaml`` with each
resource's path pointing at the published CSV, so ``frictionless validate`` works on it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from generator.layout import CASES_RESOURCE, PACKAGE_FILE
from generator.pages import Asset, Deferred, Page, RenderContext

if TYPE_CHECKING:
    from generator.cache import ResultCache
    from generator.validate import TableFiles

OUT_DIR = "data"  # inside the docs folder
# Published case records leave out the grid: a grid is a few hundred households, and single
# cases by grid, category and time could point at a household. Statistics by grid are
# published (with small counts suppressed) on the statistics pages instead.
CASES_WITHHELD_FIELDS = ("grid",)


@dataclass(frozen=True)
class PublishedTable:
    name: str
    title: str
    description: str | None
    rows: int
    fields: int
    csv_path: str
    csv_bytes: int
    json_path: str | None
    json_bytes: int | None


def _cell(value: Any, delimiter: str = ",") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return delimiter.join(_cell(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _csv_rows(field_names: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """The CSV lines of ``rows`` (no header), in the schema's field order."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in field_names])
    return buffer.getvalue().encode("utf-8")


def _json_rows(field_names: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """The JSON objects of ``rows``, one a line, joined by ",\\n" (no brackets)."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    return ",\n".join(encode({name: _json_value(row.get(name)) for name in field_names}) for row in rows).encode("utf-8")


def _csv_header(field_names: Sequence[str]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerow(field_names)
    return buffer.getvalue().encode("utf-8")


def _json_array(parts: Iterable[bytes]) -> bytes:
    lines = b",\n".join(part for part in parts if part)
    return b"[\n" + lines + b"\n]\n" if lines else b"[]\n"


def table_csv(field_names: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a header row, in the schema's field order."""
    return _csv_header(field_names) + _csv_rows(field_names, rows)


def table_json(field_names: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """A JSON array of objects, keys in the schema's field order, one object a line.

    Each object is encoded on its own by the json module's C encoder (``indent`` would switch
    to the pure-Python one, several times slower on the larger tables)."""
    return _json_array([_json_rows(field_names, rows)])


SMALL_CASES_BYTES = 32 * 1024 * 1024  # below this, CSV case files are copied with the csv module


def export_cache_dir(data_dir: Path) -> Path:
    """Where published case CSVs are kept: ``.gongzhi/cache/opendata`` beside the data."""
    from generator.cache import cache_root

    return (cache_root(data_dir) or Path(data_dir).resolve().parent / ".gongzhi" / "cache") / "opendata"


def published_case_fields(data_dir: Path) -> list[str] | None:
    """The case table's published field names, from the data package (None: no case table)."""
    package = _read_package(Path(data_dir))
    resource = next((r for r in package["resources"] if r.get("name") == CASES_RESOURCE), None)
    if resource is None:
        return None
    return [f["name"] for f in _published_schema(resource).get("fields", [])]


def _export_paths(case_files: Sequence[Path], field_names: Sequence[str], cache_dir: Path) -> tuple[Path, Path]:
    from generator.cache import file_digests

    key_source = json.dumps([file_digests(case_files, cache_dir.parent), list(field_names)])
    key = hashlib.sha256(key_source.encode("utf-8")).hexdigest()[:24]
    return cache_dir / f"cases-{key}.csv", cache_dir / f"cases-{key}.count"


def cached_cases_csv(
    case_files: Sequence[Path], field_names: Sequence[str], cache_dir: Path
) -> tuple[Path, int, int] | None:
    """The export of exactly these files' bytes and fields when the cache has it."""
    return _kept_export(*_export_paths(case_files, field_names, cache_dir))


def _kept_export(data_path: Path, count_path: Path) -> tuple[Path, int, int] | None:
    try:
        return data_path, int(count_path.read_text("utf-8")), data_path.stat().st_size
    except (OSError, ValueError):
        return None


def cases_csv_file(
    case_files: Sequence[Path],
    field_names: Sequence[str],
    cache_dir: Path,
    threads: int | None = None,
    store: Any = None,
) -> tuple[Path, int, int]:
    """The published case CSV as a file in ``cache_dir``: (path, rows, bytes).

    Case files are large (millions of rows) and change once a quarter, so the export is a
    file the render stage links or copies, never bytes held in memory, and it is reused while
    the case files keep their bytes (see ``generator.cache.file_digests``). ``store``: a
    loaded ``CaseStore`` of these files, to copy from instead of parsing them again.
    """
    data_path, count_path = _export_paths(case_files, field_names, cache_dir)
    found = _kept_export(data_path, count_path)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("cases-*"):
        old.unlink(missing_ok=True)
    tmp = data_path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        count = write_cases_csv(case_files, field_names, tmp, threads, store=store)
        tmp.replace(data_path)
    finally:
        tmp.unlink(missing_ok=True)
    count_path.write_text(str(count), "utf-8")
    return data_path, count, data_path.stat().st_size


def cases_csv(case_files: Sequence[Path], field_names: Sequence[str]) -> tuple[bytes, int]:
    """All case records as CSV bytes (small exports and tests)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.csv"
        count = write_cases_csv(case_files, field_names, out)
        return out.read_bytes(), count


def write_cases_csv(
    case_files: Sequence[Path],
    field_names: Sequence[str],
    out: Path,
    threads: int | None = None,
    store: Any = None,
) -> int:
    """All case records into one CSV file: DuckDB for large or Parquet files, the csv module for small ones."""
    if store is not None:
        return store.export_csv(field_names, out)
    if all(p.suffix.lower() == ".csv" for p in case_files) and sum(p.stat().st_size for p in case_files) < SMALL_CASES_BYTES:
        return _small_cases_csv(case_files, field_names, out)
    from generator.casestore import CaseStore

    with CaseStore(case_files, threads=threads) as own:
        return own.export_csv(field_names, out)


def _small_cases_csv(case_files: Sequence[Path], field_names: Sequence[str], out: Path) -> int:
    count = 0
    with open(out, "w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(field_names)
        for path in case_files:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle):
                    writer.writerow([row.get(name) or "" for name in field_names])
                    count += 1
    return count


def _package(ctx: RenderContext) -> dict[str, Any]:
    return _read_package(Path(ctx.dataset.root))


def _read_package(data_dir: Path) -> dict[str, Any]:
    with open(data_dir / PACKAGE_FILE, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _published_schema(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's schema as published: the case table without its withheld fields."""
    schema = resource.get("schema", {})
    if resource.get("name") != CASES_RESOURCE:
        return schema
    return {
        **schema,
        "fields": [f for f in schema.get("fields", []) if f["name"] not in CASES_WITHHELD_FIELDS],
        "foreignKeys": [
            fk for fk in schema.get("foreignKeys", [])
            if not set(fk.get("fields", [])) & set(CASES_WITHHELD_FIELDS)
        ],
    }


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    """The data files and the page listing them; nothing when the tables are not available.

    Only the paths and the package descriptor are made here. The tables' CSV and JSON and the
    page are ``Deferred``: a build writes them after the pages that need only the YAML, and
    the case table waits for the export the build's ``CaseWork`` makes meanwhile.
    """
    tables: dict[str, list[dict[str, Any]]] | None = ctx.derived.get("tables")
    package = _package(ctx)
    made: list[tuple[dict[str, Any], list[str], str, str | None, Deferred]] = []
    resources = []
    kept = _kept_tables(Path(ctx.dataset.root))
    for resource in package.get("resources", []):
        name = resource["name"]
        schema = _published_schema(resource)
        field_names = [f["name"] for f in schema.get("fields", [])]
        csv_path = f"{OUT_DIR}/{name}.csv"
        if name == CASES_RESOURCE:
            if not ctx.dataset.case_files:
                continue
            json_path = None
            table = Deferred(partial(_case_table, ctx, field_names))
        else:
            json_path = f"{OUT_DIR}/{name}.json"
            table = Deferred(partial(_yaml_table, (tables or {}).get(name, []), field_names, kept,
                                     (ctx.derived.get("table_files") or {}).get(name), name))
        made.append((resource, field_names, csv_path, json_path, table))
        resources.append(
            {**resource, "schema": schema, "path": f"{name}.csv", "format": "csv", "encoding": "utf-8"}
        )
    descriptor = {k: v for k, v in package.items() if k != "resources"}
    descriptor["resources"] = resources
    descriptor_json = json.dumps(descriptor, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    for _resource, _fields, csv_path, json_path, table in made:
        # the case table is a file in a content-addressed cache, never rewritten in place
        yield Asset(csv_path, table.then(lambda t: t[0]), linkable=json_path is None)
        if json_path is not None:
            yield Asset(json_path, table.then(lambda t: t[1]))
    yield Asset(f"{OUT_DIR}/datapackage.json", descriptor_json)

    def page_context() -> dict[str, Any]:
        published = []
        for resource, field_names, csv_path, json_path, table in made:
            _csv, json_data, rows, size = table.value()
            published.append(
                PublishedTable(
                    name=resource["name"],
                    title=resource.get("title", resource["name"]),
                    description=resource.get("description"),
                    rows=rows,
                    fields=len(field_names),
                    csv_path=csv_path,
                    csv_bytes=size,
                    json_path=json_path,
                    json_bytes=len(json_data) if json_data is not None else None,
                )
            )
        return {
            "title": "开放数据",
            "tables": published,
            "package": package,
            "package_path": f"{OUT_DIR}/datapackage.json",
            "package_bytes": len(descriptor_json),
            "complete": tables is not None,
            "withheld": CASES_WITHHELD_FIELDS,
        }

    yield Page("opendata.md", "opendata.md", Deferred(page_context))


def _kept_tables(data_dir: Path) -> ResultCache:
    """Where the YAML tables' CSV and JSON are kept between builds (``generator.cache``)."""
    from generator.cache import ResultCache, cache_root

    return ResultCache(cache_root(data_dir), "opendata-tables", keep=64)


def _yaml_table(rows: list[dict[str, Any]], field_names: list[str], kept: ResultCache | None = None,
                files: TableFiles | None = None, name: str = "") -> tuple[bytes, bytes, int, int]:
    """(CSV, JSON, rows, CSV bytes) of one YAML table, with what ``kept`` holds of it.

    With ``files`` (``CheckResult.table_files``: the files the rows came from and their
    digests) the table is put together from each file's share (``_by_file``): after an edit
    only the changed files' rows are written out again. Otherwise the whole table is kept by
    a digest of its rows."""
    if kept is None or not kept.enabled:
        return _made(table_csv(field_names, rows), table_json(field_names, rows), rows)
    shares = _by_file(rows, field_names, kept, files, name)
    if shares is not None:
        data = _csv_header(field_names) + b"".join(csv_part for csv_part, _ in shares)
        return _made(data, _json_array(json_part for _, json_part in shares), rows)
    from generator.cache import make_key, source_digest

    # equal rows pickle alike (or, sharing objects differently, only miss the cache)
    key = make_key("opendata-table", source_digest(sys.modules[__name__]), field_names, "rows",
                   hashlib.sha256(pickle.dumps(rows, protocol=5)).hexdigest())
    found = kept.get(key)
    if isinstance(found, tuple) and len(found) == 2:
        return _made(*found, rows)
    data, json_data = table_csv(field_names, rows), table_json(field_names, rows)
    kept.put(key, (data, json_data))
    return _made(data, json_data, rows)


def _made(data: bytes, json_data: bytes, rows: list[Any]) -> tuple[bytes, bytes, int, int]:
    return data, json_data, len(rows), len(data)


def _by_file(rows: list[dict[str, Any]], field_names: list[str], kept: ResultCache, files: TableFiles | None,
             name: str) -> list[tuple[bytes, bytes]] | None:
    """Each file's share of the table, in order: its rows as CSV lines and as JSON objects,
    kept between builds by the file's digest (``TableFiles``), so that after an edit only the
    changed files' rows are written out again (after a meeting edit at the city tier: 0.9 s
    for the open data against 4.5 s writing the changed tables whole). None: the files are
    not all known (a file that could not be read whole, or rows that do not add up)."""
    if files is None or any(digest is None for _, digest, _ in files.files) \
            or sum(count for _, _, count in files.files) != len(rows):
        return None
    from generator.cache import make_key, source_digest

    key = make_key("opendata-table-files", source_digest(sys.modules[__name__]), field_names, name, files.reader)
    earlier = kept.get(key)
    if not isinstance(earlier, dict):
        earlier = {}
    shares: list[tuple[bytes, bytes]] = []
    now: dict[tuple[str, str], tuple[bytes, bytes]] = {}
    start = made = 0
    for file, digest, count in files.files:
        found = earlier.get((file, digest))
        if found is None:
            part = rows[start:start + count]
            found = (_csv_rows(field_names, part), _json_rows(field_names, part))
            made += 1
        now[(file, digest)] = found  # type: ignore[index]
        shares.append(found)
        start += count
    if made or len(now) != len(earlier):  # (an unchanged table is not written again)
        kept.put(key, now)
    return shares


def _case_table(ctx: RenderContext, field_names: list[str]) -> tuple[Path, None, int, int]:
    """(CSV file, no JSON, rows, bytes) of the case table: the build's export, or made now."""
    export = ctx.derived.get("cases_export")
    if export is None:
        from generator.casestore import CaseWork

        export = CaseWork(Path(ctx.dataset.root))
    path, rows, size = export.result(ctx.dataset.case_files, field_names)
    return path, None, rows, size
