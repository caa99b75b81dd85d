"""The web editor's configuration is generated from the Data Package: it covers every resource
and field, pickers point at real ids, and the committed copy is never stale."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from generator.admin import (
    COMMITTED_CONFIG,
    NOT_EDITED,
    AdminError,
    LocalEditor,
    backend_settings,
    dump,
    editor_config,
    index_html,
    project_config,
    targets_from_folders,
)
from generator.contract import load_contract
from generator.layout import ENTITY_SOURCES
from generator.validate import check

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
GITHUB = {"name": "github", "repo": "o/r", "branch": "main", "base_url": "https://auth.example.cn"}


@pytest.fixture(scope="module")
def contract():
    return load_contract(DATA, check_with_frictionless=False)


@pytest.fixture(scope="module")
def config(contract) -> dict[str, Any]:
    return editor_config(contract, dict(GITHUB))


def _forms(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """resource → the fields the editor shows for it (top-level collections and nested lists)."""
    forms: dict[str, list[dict[str, Any]]] = {}
    nested_of = {(s.resource, n.key): n.resource for s in ENTITY_SOURCES for n in s.nested}
    district = next(s.resource for s in ENTITY_SOURCES if s.single_file)
    for collection in config["collections"]:
        fields = collection["files"][0]["fields"] if "files" in collection else collection["fields"]
        resource = district if "files" in collection else collection["name"]
        forms[resource] = fields
        for spec in fields:
            if spec["widget"] == "list" and "fields" in spec:
                forms[nested_of[(resource, spec["name"])]] = spec["fields"]
    return forms


def test_every_resource_and_field_of_the_package_is_in_the_editor(contract, config) -> None:
    forms = _forms(config)
    derived = {(n.resource, f) for s in ENTITY_SOURCES for n in s.nested
               if n.resource not in targets_from_folders()  # edited inside the parent's file
               for f in (n.parent_field, n.seq_field) if f}
    for name, table in contract.tables.items():
        if name in NOT_EDITED:
            assert name not in forms
            continue
        assert name in forms, f"{name} has no form in the editor"
        shown = {spec["name"]: spec for spec in forms[name]}
        for rule in table.fields.values():
            if (name, rule.name) in derived:  # the parent's id and the list position
                assert rule.name not in shown
                continue
            spec = shown.get(rule.name)
            assert spec is not None, f"{name}.{rule.name} is missing from the editor"
            assert spec["label"] == rule.title and spec["required"] == rule.required
            if rule.enum:
                assert [o["value"] for o in spec["options"]] == list(rule.enum)
                assert spec["widget"] == "select" and not spec.get("multiple")
            if rule.minimum is not None and spec["widget"] == "number":
                assert spec["min"] == rule.minimum
            if rule.maximum is not None and spec["widget"] == "number":
                assert spec["max"] == rule.maximum
            expected = {"integer": "number", "number": "number", "date": "datetime",
                        "boolean": "boolean"}.get(rule.type)
            if expected and spec["widget"] != "relation":
                assert spec["widget"] == expected, f"{name}.{rule.name}"


def test_every_foreign_key_is_a_relation_to_the_ids_it_may_take(contract, config) -> None:
    forms = _forms(config)
    collections = {c["name"]: c for c in config["collections"]}
    derived = {(n.resource, n.parent_field) for s in ENTITY_SOURCES for n in s.nested
               if n.resource not in targets_from_folders()}
    tables = check(DATA, cases=False).tables
    checked = 0
    for name, table in contract.tables.items():
        if name in NOT_EDITED:
            continue
        shown = {spec["name"]: spec for spec in forms[name]}
        for fk in table.foreign_keys:
            (field,) = fk.fields
            if (name, field) in derived:
                continue
            spec = shown[field]
            assert spec["widget"] == "relation", f"{name}.{field} should be picked, not typed"
            target = collections[spec["collection"]]
            # the picker lists exactly the values the referenced key takes in the data
            values = _values(target, spec, DATA)
            keys = {str(row[fk.reference_fields[0]]) for row in tables[fk.resource]}
            assert values == keys, f"{name}.{field}"
            checked += 1
    assert checked >= 15


def _values(collection: dict[str, Any], spec: dict[str, Any], data: Path) -> set[str]:
    """What Decap's relation widget would list: value_field over the collection's files."""
    if "files" in collection:
        files = [ROOT / f["file"] for f in collection["files"] if f["name"] == spec["file"]]
    else:
        folder = ROOT / collection["folder"]
        depth = collection.get("path", "").count("/") + 1
        files = [p for p in folder.rglob("*.yaml") if len(p.relative_to(folder).parts) <= depth]
    values: set[str] = set()
    for path in files:
        items = [yaml.safe_load(path.read_text(encoding="utf-8"))]
        for part in spec["value_field"].split("."):
            if part == "*":
                items = [x for item in items if isinstance(item, list) for x in item]
            else:
                items = [item.get(part) for item in items if isinstance(item, dict)]
        values.update(str(v) for v in items if v is not None)
    return values


def test_patterns_accept_every_value_the_sample_holds(contract, config) -> None:
    """The editor's checks are the validator's: a value the sample holds is never refused."""
    forms = _forms(config)
    tables = check(DATA, cases=False).tables
    for name, fields in forms.items():
        for spec in fields:
            if "pattern" not in spec:
                continue
            regex, message = spec["pattern"]
            assert message.startswith("“") and message.endswith("。")
            compiled = re.compile(regex)
            for row in tables[name]:
                value = row.get(spec["name"])
                if value not in (None, ""):
                    assert compiled.search(str(value)), f"{name}.{spec['name']}={value!r}"
            if spec["name"] == "id":
                assert not compiled.search("Bad Id") and not compiled.search("-lead")


def test_the_committed_config_is_not_stale() -> None:
    """admin/config.yml is what `gongzhi admin config --write` makes from the package today."""
    fresh = dump(project_config(DATA, ROOT / "mkdocs.yml"))
    assert COMMITTED_CONFIG.read_text(encoding="utf-8") == fresh, (
        "admin/config.yml 已过期：请运行 gongzhi admin config --write")
    check = subprocess.run([sys.executable, "-m", "generator.cli", "admin", "config", "--check"],
                           capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stderr


def test_a_changed_package_makes_the_config_stale(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    package = (DATA / "datapackage.yaml").read_text(encoding="utf-8")
    (data / "datapackage.yaml").write_text(package.replace("title: 会议名称", "title: 会议标题"), encoding="utf-8")
    assert dump(project_config(data, ROOT / "mkdocs.yml")) != COMMITTED_CONFIG.read_text(encoding="utf-8")


def test_pull_requests_not_pushes_and_chinese(config) -> None:
    assert config["publish_mode"] == "editorial_workflow"
    assert config["locale"] == "zh_Hans"
    assert all(c.get("delete") is False for c in config["collections"] if "folder" in c)
    meetings = next(c for c in config["collections"] if c["name"] == "meetings")
    assert meetings["path"] == "{{council}}/{{slug}}" and meetings["identifier_field"] == "id"


@pytest.mark.parametrize(
    ("editor", "repo_url", "expected"),
    [
        ({"base_url": "https://auth.example.cn"}, "https://github.com/o/r",
         {"name": "github", "repo": "o/r", "branch": "main", "base_url": "https://auth.example.cn"}),
        ({"backend": "gitlab", "app_id": "abc"}, "https://gitlab.example.cn/g/p",
         {"name": "gitlab", "repo": "g/p", "auth_type": "pkce", "app_id": "abc",
          "api_root": "https://gitlab.example.cn/api/v4", "base_url": "https://gitlab.example.cn"}),
        ({"backend": "forgejo", "app_id": "xyz", "branch": "data"}, "https://git.example.cn/o/r.git",
         {"name": "forgejo", "repo": "o/r", "branch": "data", "app_id": "xyz",
          "api_root": "https://git.example.cn/api/v1"}),
    ],
)
def test_backends_from_the_project_configuration(editor, repo_url, expected) -> None:
    backend = backend_settings({"repo_url": repo_url, "edit_uri": "edit/main/", "extra": {"editor": editor}})
    assert {k: backend[k] for k in expected} == expected
    html = index_html(backend)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)
    connect = next(part for part in csp.split("; ") if part.startswith("connect-src"))
    host = re.match(r"https://[^/]+", expected.get("api_root", "https://api.github.com")).group(0)
    allowed = {host, urlsplit(expected.get("base_url", host)).scheme + "://" + urlsplit(expected.get("base_url", host)).netloc}
    assert connect.split()[1] == "'self'" and set(connect.split()[2:]) == allowed


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"extra": {"editor": {"backend": "svn"}}, "repo_url": "https://x/o/r"}, "extra.editor.backend"),
        ({"extra": {"editor": {"backend": "gitlab"}}, "repo_url": "https://x/o/r"}, "app_id"),
        ({}, "extra.editor.repo"),
        ({"repo_url": "https://github.com/o/r"}, "extra.editor.base_url"),
    ],
)
def test_a_wrong_backend_setting_is_a_chinese_error(settings, words) -> None:
    with pytest.raises(AdminError, match=re.escape(words)):
        backend_settings(settings)


def test_local_backend_answers_its_own_origin_only(tmp_path: Path) -> None:
    """decap-server itself answers any origin (CORS *): `gongzhi admin serve` must not let a
    web page in the same browser write into the working tree."""
    import shutil

    shutil.copytree(DATA, tmp_path / "data", ignore=shutil.ignore_patterns("cases"))
    with LocalEditor(tmp_path / "data", ROOT / "mkdocs.yml") as editor:
        api = editor.url.replace("/admin/", "/api/v1")
        origin = editor.url.removesuffix("/admin/")
        body = json.dumps({"action": "info", "params": {"branch": "main"}}).encode()

        def post(headers: dict[str, str], method: str = "POST") -> int:
            request = urllib.request.Request(api, data=body if method == "POST" else None, method=method,
                                             headers={"Content-Type": "application/json", **headers})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert post({"Origin": origin}) == 200
        assert post({"Origin": "https://evil.example"}) == 403
        assert post({"Origin": "https://evil.example"}, method="OPTIONS") == 403
        assert post({"Host": "rebound.example:80"}) == 403
        with urllib.request.urlopen(editor.url, timeout=10) as response:
            page = response.read().decode()
        assert "config.yml" in page and "decap-cms.js" in page
        served = urllib.request.urlopen(editor.url + "config.yml", timeout=10).read().decode()
        local = yaml.safe_load(served)
        assert local["backend"] == {"name": "proxy", "proxy_url": api, "branch": "main"}
        assert "publish_mode" not in local  # the local backend writes files, it opens no PRs


def test_a_site_can_leave_the_editor_out(tmp_path: Path) -> None:
    from generator.admin import enabled

    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: x\nextra:\n  editor:\n    enabled: false\n", encoding="utf-8")
    assert enabled(config) is False
    assert enabled(ROOT / "mkdocs.yml") is True
