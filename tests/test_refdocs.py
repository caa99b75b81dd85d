"""The data dictionary and error catalogue pages are generated from the code and kept current."""

from __future__ import annotations

from validate_helpers import REPO

from generator.cli import main
from generator.contract import load_contract
from generator.issues import CATALOGUE
from generator.refdocs import dictionary_page, errors_page, write_reference_pages


def test_checked_in_pages_are_current():
    stale = write_reference_pages(REPO / "data", REPO / "content" / "editors", check_only=True)
    assert stale == [], "运行 `gongzhi docs` 重新生成：" + "、".join(stale)


def test_every_code_is_in_the_catalogue_page():
    page = errors_page()
    for code, kind in CATALOGUE.items():
        assert f"| `{code}` |" in page
        assert kind.title.replace("|", "\\|") in page


def test_every_table_and_field_is_in_the_dictionary():
    contract = load_contract(REPO / "data", check_with_frictionless=False)
    page = dictionary_page(contract)
    for name, table in contract.tables.items():
        assert f"## {table.title}（{name}） {{#{name}}}" in page
        for field in table.fields.values():
            title = field.title.replace("|", "\\|")
            assert f"| `{field.name}` | {title} |" in page
    assert "可选：社区、村" in page  # allowed values
    assert "`data/communities/<编号>.yaml`" in page  # where editors keep it
    assert "写在 `data/communities/<编号>.yaml` 的 `grids:` 列表中" in page


def test_docs_check_fails_when_stale_and_docs_writes(tmp_path, capsys):
    out = tmp_path / "editors"
    assert main(["docs", "--data", str(REPO / "data"), "--out", str(out), "--check"]) == 1
    assert main(["docs", "--data", str(REPO / "data"), "--out", str(out)]) == 0
    assert main(["docs", "--data", str(REPO / "data"), "--out", str(out), "--check"]) == 0
    (out / "errors.md").write_text("旧内容\n", encoding="utf-8")
    assert main(["docs", "--data", str(REPO / "data"), "--out", str(out), "--check"]) == 1
    assert "已过期" in capsys.readouterr().err
