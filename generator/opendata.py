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
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from generator.layout import CASES_RESOURCE, PACKAGE_FILE
from generator.pages import Asset, Page, RenderContext

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


def table_csv(field_names: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a header row, in the schema's field order."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(field_names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in field_names])
    return buffer.getvalue().encode("utf-8")


def table_json(field_names: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """A JSON array of objects, keys in the schema's field order, one object a line.

    Each object is encoded on its own by the json module's C encoder (``indent`` would switch
    to the pure-Python one, several times slower on the larger tables)."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    lines = ",\n".join(encode({name: _json_value(row.get(name)) for name in field_names}) for row in rows)
    return ("[\n" + lines + "\n]\n" if lines else "[]\n").encode("utf-8")


SMALL_CASES_BYTES = 32 * 1024 * 1024  # below this, CSV case files are copied with the csv module


def cases_csv_file(
    case_files: Sequence[Path], field_names: Sequence[str], cache_dir: Path, threads: int | None = None
) -> tuple[Path, int, int]:
    """The published case CSV as a file in ``cache_dir``: (path, rows, bytes).

    Case files are large (millions of rows) and change once a quarter, so the export is a
    file the render stage links or copies, never bytes held in memory, and it is reused while
    the case files keep their bytes (see ``generator.cache.file_digests``).
    """
    from generator.cache import file_digests

    key_source = json.dumps([file_digests(case_files, cache_dir.parent), list(field_names)])
    key = hashlib.sha256(key_source.encode("utf-8")).hexdigest()[:24]
    data_path, count_path = cache_dir / f"cases-{key}.csv", cache_dir / f"cases-{key}.count"
    if data_path.is_file() and count_path.is_file():
        return data_path, int(count_path.read_text("utf-8")), data_path.stat().st_size
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("cases-*"):
        old.unlink()
    tmp = data_path.with_suffix(".tmp")
    count = write_cases_csv(case_files, field_names, tmp, threads)
    tmp.replace(data_path)
    count_path.write_text(str(count), "utf-8")
    return data_path, count, data_path.stat().st_size


def cases_csv(case_files: Sequence[Path], field_names: Sequence[str]) -> tuple[bytes, int]:
    """All case records as CSV bytes (small exports and tests)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.csv"
        count = write_cases_csv(case_files, field_names, out)
        return out.read_bytes(), count


def write_cases_csv(
    case_files: Sequence[Path], field_names: Sequence[str], out: Path, threads: int | None = None
) -> int:
    """All case records into one CSV file: DuckDB for large or Parquet files, the csv module for small ones."""
    if all(p.suffix.lower() == ".csv" for p in case_files) and sum(p.stat().st_size for p in case_files) < SMALL_CASES_BYTES:
        return _small_cases_csv(case_files, field_names, out)
    import duckdb

    def quoted(paths: Sequence[Path]) -> str:
        return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"

    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        csv_files = [p for p in case_files if p.suffix.lower() != ".parquet"]
        parquet_files = [p for p in case_files if p.suffix.lower() == ".parquet"]
        parts = []
        if csv_files:
            parts.append(f"SELECT * FROM read_csv({quoted(csv_files)}, header=true, all_varchar=true, union_by_name=true)")
        if parquet_files:
            parts.append(f"SELECT * FROM read_parquet({quoted(parquet_files)}, union_by_name=true)")
        columns = ", ".join(f'"{name}"' for name in field_names)
        source = " UNION ALL BY NAME ".join(parts)
        target = str(out).replace("'", "''")
        written = con.execute(f"COPY (SELECT {columns} FROM ({source})) TO '{target}' (HEADER, DELIMITER ',')").fetchone()
        return int(written[0]) if written else 0
    finally:
        con.close()


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
        return yaml.safe_load(handle)


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


class CasesExport:
    """The published case CSV, started in a background thread when a build begins.

    Writing it means reading every case file once more (about 3 s for 1.3 M rows), work that
    needs nothing from the YAML files. ``gongzhi build`` starts it before validation, so
    DuckDB writes it on the second core while Python reads the YAML; the open-data provider
    then takes the result, or makes the file itself when the build's inputs turned out to be
    other than what the thread guessed (a case file list or schema it could not read). The
    export lands in the result cache (``.gongzhi/cache/opendata``) and is reused while the
    case files keep their bytes.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._planned: tuple[list[Path], list[str]] | None = None
        self._thread: threading.Thread | None = None
        self._result: tuple[Path, int, int] | None = None

    @property
    def cache_dir(self) -> Path:
        from generator.cache import cache_root

        return (cache_root(self.data_dir) or self.data_dir.resolve().parent / ".gongzhi" / "cache") / "opendata"

    def start(self) -> CasesExport:
        """Begin writing in a thread; nothing happens when the inputs cannot be read yet."""
        from generator.load import discover, display_root

        try:
            package = _read_package(self.data_dir)
            resource = next(r for r in package["resources"] if r.get("name") == CASES_RESOURCE)
            fields = [f["name"] for f in _published_schema(resource).get("fields", [])]
            _, case_files, _ = discover(self.data_dir, display_root(self.data_dir))
        except Exception:  # noqa: BLE001 - the validator reports it; the provider decides later
            return self
        if not case_files:
            return self
        self._planned = (case_files, fields)
        self._thread = threading.Thread(target=self._run, name="gongzhi-cases-export")
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._planned is not None
        try:
            # one DuckDB thread: the other core is Python's, reading the YAML meanwhile
            self._result = cases_csv_file(*self._planned, self.cache_dir, threads=1)
        except Exception:  # noqa: BLE001 - made again (and reported) by ``result``
            self._result = None

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self, case_files: Sequence[Path], field_names: Sequence[str]) -> tuple[Path, int, int]:
        """(path, rows, bytes) of the export for exactly these files and fields."""
        self.wait()
        planned = self._planned
        if (
            self._result is not None
            and planned is not None
            and [Path(p).resolve() for p in planned[0]] == [Path(p).resolve() for p in case_files]
            and planned[1] == list(field_names)
            and self._result[0].is_file()
        ):
            return self._result
        return cases_csv_file(case_files, field_names, self.cache_dir)


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    """The data files and the page listing them; nothing when the tables are not available."""
    tables: dict[str, list[dict[str, Any]]] | None = ctx.derived.get("tables")
    package = _package(ctx)
    published: list[PublishedTable] = []
    resources = []
    for resource in package.get("resources", []):
        name = resource["name"]
        schema = _published_schema(resource)
        field_names = [f["name"] for f in schema.get("fields", [])]
        csv_path = f"{OUT_DIR}/{name}.csv"
        if name == CASES_RESOURCE:
            if not ctx.dataset.case_files:
                continue
            export = ctx.derived.get("cases_export")
            if not isinstance(export, CasesExport):
                export = CasesExport(Path(ctx.dataset.root))
            data, count, size = export.result(ctx.dataset.case_files, field_names)
            json_path, json_data = None, None
        else:
            rows = (tables or {}).get(name, [])
            data, count = table_csv(field_names, rows), len(rows)
            size = len(data)
            json_path, json_data = f"{OUT_DIR}/{name}.json", table_json(field_names, rows)
        # the case table is a file in a content-addressed cache, never rewritten in place
        yield Asset(csv_path, data, linkable=name == CASES_RESOURCE)
        if json_path and json_data is not None:
            yield Asset(json_path, json_data)
        published.append(
            PublishedTable(
                name=name,
                title=resource.get("title", name),
                description=resource.get("description"),
                rows=count,
                fields=len(field_names),
                csv_path=csv_path,
                csv_bytes=size,
                json_path=json_path,
                json_bytes=len(json_data) if json_data is not None else None,
            )
        )
        resources.append(
            {**resource, "schema": schema, "path": f"{name}.csv", "format": "csv", "encoding": "utf-8"}
        )
    descriptor = {k: v for k, v in package.items() if k != "resources"}
    descriptor["resources"] = resources
    descriptor_json = json.dumps(descriptor, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    yield Asset(f"{OUT_DIR}/datapackage.json", descriptor_json)
    yield Page(
        "opendata.md",
        "opendata.md",
        {
            "title": "开放数据",
            "tables": published,
            "package": package,
            "package_path": f"{OUT_DIR}/datapackage.json",
            "package_bytes": len(descriptor_json),
            "complete": tables is not None,
            "withheld": CASES_WITHHELD_FIELDS,
        },
    )
