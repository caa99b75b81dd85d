"""Loading: node marks, scalars typed by the schema, flattening, linking and provenance."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from validate_helpers import make_data

from generator.model import CouncilKind, Label
from generator.validate import check, load_dataset


def test_scalars_are_cast_by_the_schema_not_by_yaml(tmp_path):
    data = make_data(tmp_path)
    text = (data / "district.yaml").read_text(encoding="utf-8")
    (data / "district.yaml").write_text(
        text.replace('code: "330113"', "code: 330113"), encoding="utf-8"
    )
    street = (data / "streets" / "nanyuan.yaml").read_text(encoding="utf-8")
    (data / "streets" / "nanyuan.yaml").write_text(
        street.replace('code: "330113002"', "code: 330113002"), encoding="utf-8"
    )
    result = check(data)
    assert result.issues == []
    assert result.tables["districts"][0]["code"] == "330113"
    assert result.dataset.streets["nanyuan"].code == "330113002"


def test_leading_zero_codes_keep_their_digits(tmp_path):
    data = make_data(tmp_path)
    path = data / "streets" / "nanyuan.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("name: 南苑街道", "name: 0123"), encoding="utf-8"
    )
    result = check(data)
    assert result.dataset.streets["nanyuan"].name == "0123"  # not octal 83


def test_flattening_fills_parent_ids_and_sequence(tmp_path):
    result = check(make_data(tmp_path))
    grids = result.tables["grids"]
    assert [(g["id"], g["community"]) for g in grids] == [
        ("xinfeng-01", "xinfeng"),
        ("xinfeng-02", "xinfeng"),
        ("yuanhua-01", "yuanhua"),
    ]
    members = result.tables["memberships"]
    assert [(m["council"], m["seq"]) for m in members] == [
        ("xinfeng-council", 1),
        ("xinfeng-council", 2),
    ]
    assert result.tables["streets"][0]["id"] == "linping"  # from the file name
    assert result.tables["projects"][0]["tags"] == ["共建", "自治"]
    assert result.tables["projects"][0]["budget_yuan"] == 120000.0


def test_origins_point_at_the_record_lines(tmp_path):
    dataset = load_dataset(make_data(tmp_path))
    grid = dataset.grids["xinfeng-02"]
    assert (grid.origin.file, grid.origin.line) == ("data/communities/xinfeng.yaml", 14)
    assert dataset.decisions["xinfeng-2026-03-1"].origin.line == 11


def test_relations_are_linked(tmp_path):
    d = load_dataset(make_data(tmp_path))
    xinfeng = d.communities["xinfeng"]
    assert xinfeng.street_ref is d.streets["linping"]
    assert [g.id for g in xinfeng.grids] == ["xinfeng-01", "xinfeng-02"]
    assert [o.id for o in xinfeng.organisations] == ["xinfeng-party", "xinfeng-volunteers"]
    assert [c.id for c in xinfeng.councils] == ["xinfeng-council"]
    assert [s.id for s in d.district.streets] == ["linping", "nanyuan"]
    assert [o.id for o in d.streets["linping"].organisations] == ["linping-street-party"]
    council = d.councils["xinfeng-council"]
    assert council.kind is CouncilKind.RESIDENTS_COUNCIL and isinstance(council.kind, Label)
    assert [m.seq for m in council.members] == [1, 2]
    meeting = d.meetings["xinfeng-2026-03"]
    assert council.meetings == [meeting] and meeting.council_ref is council
    decision = d.decisions["xinfeng-2026-03-1"]
    assert meeting.agenda[0].decisions == [decision]
    project = d.projects["xinfeng-garden"]
    assert decision.project_ref is project and project.decisions == [decision]
    assert project.grantee_ref is d.organisations["xinfeng-volunteers"]
    assert d.organisations["xinfeng-volunteers"].projects == [project]
    assert [m.seq for m in project.milestones] == [1, 2]
    evaluation = d.evaluations["nanyuan-2026-01"]
    assert evaluation.project_ref is project and project.evaluations == [evaluation]
    assert d.councils["nanyuan-bench"] in d.streets["nanyuan"].councils
    assert d.awards["zuimei-2025"].winners[0].community == "xinfeng"
    assert d.organisations["xinfeng-party"].tags == []  # absent list → empty, not None
    assert [p.name for p in d.case_files] == ["2026q1.csv"]


def test_meetings_newest_first(tmp_path):
    data = make_data(tmp_path)
    (data / "meetings" / "xinfeng-2025-12.yaml").write_text(
        "council: xinfeng-council\ntitle: 2025年12月议事会\ndate: 2025-12-10\nstatus: 已召开\n",
        encoding="utf-8",
    )
    (data / "meetings" / "xinfeng-2026-06.yaml").write_text(
        "council: xinfeng-council\ntitle: 2026年6月议事会\ndate: 2026-06-10\nstatus: 计划中\n",
        encoding="utf-8",
    )
    d = load_dataset(data)
    assert [m.id for m in d.councils["xinfeng-council"].meetings] == [
        "xinfeng-2026-06",
        "xinfeng-2026-03",
        "xinfeng-2025-12",
    ]


def test_subfolders_are_read(tmp_path):
    data = make_data(tmp_path)
    (data / "meetings" / "xinfeng").mkdir()
    (data / "meetings" / "xinfeng-2026-03.yaml").rename(
        data / "meetings" / "xinfeng" / "xinfeng-2026-03.yaml"
    )
    d = load_dataset(data)
    assert d.meetings["xinfeng-2026-03"].origin.file == "data/meetings/xinfeng/xinfeng-2026-03.yaml"


def git(*args: str, cwd) -> None:
    """git with a test author, in ``cwd``."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_updated_from_one_git_log(tmp_path, monkeypatch):
    data = make_data(tmp_path)
    git("init", "-q", cwd=tmp_path)
    git("add", ".", cwd=tmp_path)
    env = {
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+08:00",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+08:00",
    }
    monkeypatch.setenv("GIT_COMMITTER_DATE", env["GIT_COMMITTER_DATE"])
    monkeypatch.setenv("GIT_AUTHOR_DATE", env["GIT_AUTHOR_DATE"])
    git("commit", "-q", "-m", "first", cwd=tmp_path)
    path = data / "streets" / "nanyuan.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "summary: 南苑\n", encoding="utf-8")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-04T05:06:07+08:00")
    git("commit", "-q", "-am", "second", cwd=tmp_path)

    calls = []
    real_run = subprocess.run

    def counting_run(cmd, *a, **k):
        if cmd and cmd[0] == "git":
            calls.append(cmd)
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(subprocess, "run", counting_run)
    d = load_dataset(data)
    assert len(calls) == 1
    tz = dt.timezone(dt.timedelta(hours=8))
    assert d.streets["nanyuan"].origin.updated == dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=tz)
    assert d.streets["linping"].origin.updated == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)
    assert d.grids["xinfeng-01"].origin.updated == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)


def test_no_git_is_tolerated(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    d = load_dataset(make_data(tmp_path))
    assert d.streets["linping"].origin.updated is None


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: 'x\n", "a:\n  - b\n  c: 1\n", "\x00\n"])
def test_garbage_never_raises(tmp_path, text):
    data = make_data(tmp_path)
    (data / "policies" / "junk.yaml").write_text(text, encoding="utf-8")
    result = check(data)
    assert result.dataset is None
    assert any(i.file == "data/policies/junk.yaml" for i in result.issues)
