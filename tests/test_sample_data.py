"""Invariants of the committed sample district (data/): the paper's figures, coverage, the
decision → project chain, fictional names, no personal data, and reproducible case records."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from generator.model import GOVERNANCE_TAGS

DATA = Path(__file__).resolve().parent.parent / "data"
OWN_FOLDERS = (
    "streets", "communities", "organisations", "councils", "meetings", "projects",
    "evaluations", "policies", "awards",
)  # fmt: skip
PAPER = "陈秀萍《社区治理的实践探索与路径选择——以余杭区为例》"


def _load(folder: str) -> dict[str, dict]:
    out = {}
    for path in sorted((DATA / folder).rglob("*.yaml")):
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[record["id"]] = record
    return out


@pytest.fixture(scope="module")
def sample() -> dict[str, dict[str, dict]]:
    return {folder: _load(folder) for folder in OWN_FOLDERS}


def test_district_is_linping_split_from_yuhang():
    district = yaml.safe_load((DATA / "district.yaml").read_text(encoding="utf-8"))
    assert (district["code"], district["name"]) == ("330113", "临平区")
    assert (district["former_code"], district["former_name"]) == ("330110", "余杭区")
    assert district["sample_data"] is True
    assert PAPER in district["source"]


def test_streets_have_real_codes(sample):
    codes = {s["name"]: s["code"] for s in sample["streets"].values()}
    assert codes["临平街道"] == "330113001"
    assert codes["南苑街道"] == "330113002"
    assert codes["东湖街道"] == "330113003"


def test_linping_grids_match_the_paper(sample):
    """临平街道: 84 grid points and 84 full-time grid workers in its communities' grids."""
    street = sample["streets"]["linping"]
    assert (
        street["reported_grid_points"],
        street["reported_full_time_grid_workers"],
        street["reported_technical_staff"],
    ) == (84, 84, 91)
    assert PAPER in street["source"]
    grids = [
        g for c in sample["communities"].values() if c["street"] == "linping" for g in c["grids"]
    ]
    assert sum(g["grid_points"] for g in grids) == 84
    assert sum(g["full_time_workers"] for g in grids) == 84


def test_communities_codes_grids_and_coverage(sample):
    communities = sample["communities"]
    assert len(communities) >= 12
    streets = sample["streets"]
    for c in communities.values():
        assert re.fullmatch(r"[0-9]{12}", c["code"])
        assert c["code"].startswith(streets[c["street"]]["code"]), c["id"]
        assert c["grids"], f"{c['id']} has no grids"
        assert all(g["id"].startswith(c["id"] + "-") for g in c["grids"])
        assert "示例" in c["summary"]
    with_centre = sum(1 for c in communities.values() if c.get("consultation_centre"))
    assert 0 < with_centre < len(communities), "coverage must be computed and below 100 %"
    assert len(communities) - with_centre <= 2


def test_every_community_has_every_kind_of_organisation(sample):
    by_community = defaultdict(list)  # one file per organisation, each naming its community
    for o in sample["organisations"].values():
        if o.get("community"):
            by_community[o["community"]].append(o)
    for c in sample["communities"].values():
        assert "organisations" not in c, f"{c['id']}: organisations live in their own files"
        organisations = by_community[c["id"]]
        kinds = Counter(o["kind"] for o in organisations)
        committee = "村委会" if c["kind"] == "村" else "居委会"
        for kind in ("党组织", committee, "业委会", "物业服务企业", "社会组织"):
            assert kinds[kind] >= 1, f"{c['id']} lacks {kind}"
        core = [o for o in organisations if o["core_role"] == "一核"]
        assert [o["kind"] for o in core] == ["党组织"]
        for o in organisations:
            if o["kind"] == "社会组织":
                assert o.get("social_type") and o.get("filing_status"), o["id"]
    statuses = {o.get("filing_status") for o in sample["organisations"].values() if o["kind"] == "社会组织"}
    assert {"已备案", "备案中", "未备案", "已注销"} <= statuses


def test_every_community_has_a_council_with_meetings_and_decisions(sample):
    councils_by_community = defaultdict(list)
    for council in sample["councils"].values():
        if council.get("community"):
            councils_by_community[council["community"]].append(council)
    held = defaultdict(list)
    for meeting in sample["meetings"].values():
        held[meeting["council"]].append(meeting)
    for cid in sample["communities"]:
        kinds = {c["kind"] for c in councils_by_community[cid]}
        assert kinds & {"居民议事会", "村民议事会"}, f"{cid} has no council"
        for council in councils_by_community[cid]:
            meetings = held[council["id"]]
            assert len([m for m in meetings if m["status"] == "已召开"]) >= 2, council["id"]
            assert sum(len(m.get("decisions") or []) for m in meetings) >= 2, council["id"]
            assert all(m.get("agenda") for m in meetings)
            sectors = {m["sector"] for m in council["members"]}
            assert {"党组织", "居民代表"} <= sectors
    years = {m["date"].year for m in sample["meetings"].values()}
    assert {2025, 2026} <= years


def test_nanyuan_bench_reviews_projects(sample):
    bench = [c for c in sample["councils"].values() if c["kind"] == "板凳民主评议团"]
    assert [b["street"] for b in bench] == ["nanyuan"]
    evaluations = [e for e in sample["evaluations"].values() if e["council"] == bench[0]["id"]]
    assert len(evaluations) >= 3
    assert sum(1 for e in evaluations if e.get("project")) >= 3
    assert {e["verdict"] for e in evaluations} >= {"满意", "不满意"}


def test_projects_are_linked_from_decisions(sample):
    projects = sample["projects"]
    assert len(projects) >= 6
    linked = {
        d["project"]
        for m in sample["meetings"].values()
        for d in m.get("decisions") or []
        if d.get("project")
    }
    assert set(projects) <= linked
    programmes = {p["programme"] for p in projects.values()}
    assert {"公益创投", "城乡社区善治计划"} <= programmes
    for p in projects.values():
        assert p.get("milestones"), p["id"]
        assert p.get("spent_yuan", 0) <= p["budget_yuan"], p["id"]
        assert 0 <= p.get("progress_pct", 0) <= 100
        if p["status"] == "已结项":
            assert p.get("outcome"), p["id"]


def test_the_papers_two_policies_and_marked_illustrations(sample):
    policies = sample["policies"]
    titles = {p["title"]: p for p in policies.values()}
    for title in ("关于完善“党建+社区治理”体制的实施意见", "关于促进“全域治理现代化”建设的决定"):
        policy = titles[title]
        assert not policy.get("doc_number"), "the paper gives no document number"
        assert "示例" in policy["summary"] and PAPER in policy["source"]
    others = [p for p in policies.values() if PAPER not in (p.get("source") or "")]
    assert len(others) >= 2
    for p in others:
        assert "示例" in p["title"] and "示例" in p["summary"]


def test_awards_several_categories_and_years(sample):
    awards = sample["awards"].values()
    assert len({a["category"] for a in awards}) >= 4
    assert len({a["year"] for a in awards}) >= 2
    for a in awards:
        for w in a.get("winners") or []:
            if w["kind"] in ("个人", "家庭"):
                assert "（示例）" in w["name"], w["name"]
            assert "示例" in w["citation"]


def test_tags_are_the_governance_tags(sample):
    for folder in ("projects", "policies", "awards", "councils", "organisations"):
        for record in sample[folder].values():
            assert set(record.get("tags") or []) <= set(GOVERNANCE_TAGS), record["id"]


def test_person_names_are_marked_fictional(sample):
    names = [m["name"] for c in sample["councils"].values() for m in c["members"]]
    assert names and all(n.endswith("（示例）") for n in names)
    assert len(names) == len(set(names))


PHONE = re.compile(r"(?<![0-9])(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})(?![0-9])")
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")


def test_no_phone_or_id_numbers_anywhere_in_data():
    """No personal numbers anywhere in data/. The one allowed exception: an office's contact
    line in a form's privacy notice, marked as an example number (（示例号码）)."""
    checked = 0
    for path in sorted(DATA.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".csv") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        match = ID_NUMBER.search(text)
        assert match is None, f"{path}: {match.group(0)}"
        own = path.relative_to(DATA).parts[0] in (*OWN_FOLDERS, "cases", "district.yaml")
        for match in PHONE.finditer(text):
            marked = text.startswith("（示例号码）", match.end())
            assert marked and not own, f"{path}: {match.group(0)}"
        checked += 1
    assert checked > 50


def test_the_detectors_catch_what_they_are_for():
    assert PHONE.search("联系电话 13912345678")
    assert PHONE.search("0571-86123456")
    assert ID_NUMBER.search("身份证 33011319800101123X")
    assert not PHONE.search("330113001001")  # a 12-digit community code is not a phone number
    assert not PHONE.search("C2025070100012")


def test_case_records_cover_five_quarters_and_reference_the_sample(sample):
    files = sorted((DATA / "cases").glob("*.csv"))
    assert [f.stem for f in files] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    grids = {g["id"]: c["id"] for c in sample["communities"].values() for g in c["grids"]}
    rows = 0
    levels: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    answered = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                assert grids[row["grid"]] == row["community"]
                times = [
                    row[k]
                    for k in ("reported_at", "accepted_at", "dispatched_at", "closed_at")
                    if row[k]
                ]
                assert times == sorted(times), row["id"]
                assert row["due_at"] > row["reported_at"]
                statuses[row["status"]] += 1
                if row["status"] == "已办结":
                    assert row["closed_at"] and row["resolved_level"]
                    levels[row["resolved_level"]] += 1
                    answered += bool(row["satisfaction"])
                else:
                    assert not row["closed_at"] and not row["resolved_level"]
    assert 5_000 <= rows <= 20_000
    assert sum(p.stat().st_size for p in files) < 5_000_000
    closed = sum(levels.values())
    assert 0.65 < levels["网格"] / closed < 0.85  # 小事不出网格
    assert (levels["网格"] + levels["社区"]) / closed > 0.85  # 一般事不出社区
    assert 0 < levels["区级"] < levels["镇街"]
    assert statuses["处理中"] + statuses["待受理"] > 0  # open cases at the end
    assert statuses["已撤销"] > 0
    assert 0 < answered < closed  # some return visits unanswered or not made


def test_the_sample_validates_clean():
    from generator.validate import check

    result = check(DATA)
    problems = [i.to_text() for i in result.issues]
    assert problems == []
    assert result.dataset is not None
    assert len(result.dataset.communities) >= 12


def test_illustrative_records_say_so(sample):
    """A reader sees 示例 on every illustrative record: summaries of communities, organisations,
    councils, meetings, projects (and their outcomes), evaluations and awards."""
    texts = []
    for folder in ("councils", "meetings", "projects", "evaluations", "awards"):
        for record in sample[folder].values():
            texts.append((record["id"], record.get("summary")))
            if folder == "projects":
                texts.append((record["id"], record.get("outcome")))
    texts.extend((o["id"], o.get("summary")) for o in sample["organisations"].values())
    unmarked = [rid for rid, text in texts if text and "示例" not in text]
    assert unmarked == []
    assert sum(1 for _rid, text in texts if text) > 150
