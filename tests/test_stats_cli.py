"""``gongzhi stats`` and ``gongzhi report`` on the sample data folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_stats_json_levels_add_up(capsys):
    assert main(["stats", "--data", str(ROOT / "data"), "--level", "street", "--period", "2026Q2", "--format", "json"]) == 0
    streets = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in streets["rows"]} == {"临平街道", "南苑街道", "东湖街道"}
    assert main(["stats", "--data", str(ROOT / "data"), "--period", "2026Q2", "--format", "json"]) == 0
    [district] = json.loads(capsys.readouterr().out)["rows"]
    for key in ("received", "due", "closed", "closed_on_time", "answered"):
        assert sum(row[key] for row in streets["rows"]) == district[key]
    assert district["on_time_rate"] == pytest.approx(district["closed_on_time"] / district["due"])
    assert {m["key"] for m in streets["metrics"]} >= {"on_time_rate", "satisfaction_rate", "grid_resolution_rate"}


def test_stats_text_and_csv(capsys):
    assert main(["stats", "--data", str(ROOT / "data"), "--level", "community", "--period", "2026"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("村社事件统计（数据截至") and "按期办结率" in out and "新丰社区" in out
    assert main(["stats", "--data", str(ROOT / "data"), "--level", "grid", "--period", "2026Q3", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("level,unit,name,period,complete,received") and len(lines) > 50


def test_stats_bad_input_is_a_chinese_message(capsys, tmp_path):
    assert main(["stats", "--data", str(ROOT / "data"), "--period", "2026Q5"]) == 2
    assert "无法识别的统计期" in capsys.readouterr().err
    assert main(["stats", "--data", str(tmp_path / "missing")]) == 2
    assert "找不到数据文件夹" in capsys.readouterr().err


def test_report_new_and_publish(capsys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    shutil.rmtree(data / "reports")
    assert main(["report", "new", "2026Q3", "--data", str(data)]) == 0
    assert (data / "reports" / "2026-Q3.yaml").is_file()
    assert main(["report", "new", "2026Q3", "--data", str(data)]) == 2
    assert "已存在" in capsys.readouterr().err
    assert main(["report", "publish", "2026Q3", "--data", str(data)]) == 0
    assert "已发布2026年第三季度报告" in capsys.readouterr().out
    assert (data / "reports" / "2026-Q3.figures.json").is_file()
    assert main(["report", "publish", "2026Q3", "--data", str(data)]) == 0
    assert "无需更正" in capsys.readouterr().out
    assert main(["report", "publish", "2026", "--data", str(data)]) == 2
    assert main(["validate", str(data)]) == 0
