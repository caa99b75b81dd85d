"""``gongzhi validate``: exit codes, the three output formats, never a traceback."""

from __future__ import annotations

import json
import shutil

from validate_helpers import REPO, make_data

from generator.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_folder_exits_0(tmp_path, capsys):
    code, out, _ = run(capsys, str(make_data(tmp_path)))
    assert code == 0
    assert "校验通过" in out


def test_invalid_folder_exits_1_with_grouped_chinese_text(tmp_path, capsys):
    code, out, _ = run(capsys, str(make_data(tmp_path, "money")))
    assert code == 1
    assert out.splitlines()[0] == "data/evaluations/nanyuan-2026-01.yaml"
    assert "  6:8 score  错误：" in out
    assert "提示：" in out
    assert out.rstrip().endswith("4 个错误，0 个警告")


def test_warnings_pass_unless_strict(tmp_path, capsys):
    data = str(make_data(tmp_path, "warnings"))
    code, out, _ = run(capsys, data)
    assert code == 0 and "0 个错误，2 个警告" in out
    code, _, _ = run(capsys, data, "--strict")
    assert code == 1


def test_cannot_run_exits_2(tmp_path, capsys):
    code, out, err = run(capsys, str(tmp_path / "missing"))
    assert code == 2 and "找不到数据文件夹" in err and out == ""
    data = make_data(tmp_path)
    (data / "datapackage.yaml").unlink()
    code, _, err = run(capsys, str(data))
    assert code == 2 and "datapackage.yaml" in err
    (data / "datapackage.yaml").write_text(
        "resources: [{name: x, schema: {fields: [{name: a, type: strin}]}}]\n", encoding="utf-8"
    )
    code, _, err = run(capsys, str(data))
    assert code == 2 and "Frictionless" in err and "Traceback" not in err


def test_json_format(tmp_path, capsys):
    code, out, _ = run(capsys, str(make_data(tmp_path, "warnings")), "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["valid"] is True
    assert document["summary"]["errors"] == 0 and document["summary"]["warnings"] == 2
    first = document["issues"][0]
    assert set(first) == {"code", "severity", "file", "line", "column", "key", "message", "hint"}
    assert first["severity"] == "warning" and first["file"] == "data/meetings/xinfeng-2026-03.yaml"


def test_github_format(tmp_path, capsys):
    code, out, _ = run(capsys, str(make_data(tmp_path, "duplicate-key")), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        "::error file=data/streets/nanyuan.yaml,line=6,col=1,title=duplicate-key::kind："
    )
    assert "（提示：" in lines[0]
    assert lines[-1] == "1 个错误，0 个警告"
    code, out, _ = run(capsys, str(make_data(tmp_path / "w", "warnings")), "--format", "github")
    assert out.startswith("::warning file=")


def test_gitlab_code_quality_format(tmp_path, capsys):
    """GitLab shows each entry on the changed line of a merge request."""
    code, out, _ = run(capsys, str(make_data(tmp_path, "duplicate-key")), "--format", "gitlab")
    assert code == 1
    (entry,) = json.loads(out)
    assert entry["check_name"] == "duplicate-key" and entry["severity"] == "major"
    assert entry["location"] == {"path": "data/streets/nanyuan.yaml", "lines": {"begin": 6}}
    assert entry["description"].startswith("kind：") and "（提示：" in entry["description"]
    again = json.loads(run(capsys, str(make_data(tmp_path / "again", "duplicate-key")), "--format", "gitlab")[1])
    assert again[0]["fingerprint"] == entry["fingerprint"]  # the same issue keeps its identity


def test_github_format_escapes_newlines_and_commas(tmp_path, capsys):
    from generator.cli_validate import format_github
    from generator.issues import Issue, Severity

    issue = Issue("x", Severity.ERROR, "data/a,b.yaml", 3, None, "k", "第一行\n第二行 100%", "")
    assert format_github([issue]).splitlines()[0] == (
        "::error file=data/a%2Cb.yaml,line=3,title=x::k：第一行%0A第二行 100%25"
    )


def test_no_cases_flag_skips_case_files(tmp_path, capsys):
    data = str(make_data(tmp_path, "cases"))
    assert run(capsys, data)[0] == 1
    assert run(capsys, data, "--no-cases")[0] == 0


def test_unreadable_file_is_reported_not_raised(tmp_path, capsys):
    data = make_data(tmp_path)
    (data / "cases" / "broken.parquet").write_bytes(b"not a parquet file")
    code, out, err = run(capsys, str(data))
    assert code == 1 and "Traceback" not in out + err
    assert "data/cases/broken.parquet" in out and "[unreadable-file]" in out


def test_console_script_runs(tmp_path):
    import subprocess

    data = make_data(tmp_path, "gbk")
    script = shutil.which("gongzhi", path=str(REPO / ".venv" / "bin"))
    done = subprocess.run(
        [script, "validate", str(data)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "GBK" in done.stdout and "Traceback" not in done.stderr
