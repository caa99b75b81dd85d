"""The web editor at ``/admin/``: Decap CMS, configured from the Data Package and the YAML layout.

Editors who do not use git change data through Decap CMS, which writes the same YAML files
``gongzhi validate`` reads and, with ``publish_mode: editorial_workflow``, opens a branch and a
pull request for every saved entry instead of pushing. Nothing here is written by hand:

- ``editor_config`` turns ``data/datapackage.yaml`` (through ``contract``) and
  ``layout.ENTITY_SOURCES`` into Decap's configuration: one collection per entity folder (the
  district file as a file collection), one field per schema field with the widget that fits its
  type, ``required``, ``pattern``, lengths and ranges from the constraints, enums as selects, the
  governance tags as a multiple select, nested lists (grids, members, agenda, decisions, …) as
  list widgets, and every foreign key as a relation widget over the collection that holds the
  referenced ids, so an editor picks a real id instead of typing one.
- the backend (GitHub, GitLab or Forgejo) comes from ``extra.editor`` in mkdocs.yml;
- ``write_admin`` puts ``index.html``, ``config.yml`` and the vendored Decap bundle into a
  built site; the page's Content-Security-Policy lets it talk to its own origin and the
  configured git host only.
- ``vendor`` fetches the pinned Decap bundle with ``npm pack`` (see ``admin/package.json``),
  checks its integrity and keeps only the browser files.

``gongzhi admin serve`` (``admin/serve.cjs``) runs the same editor against the working tree
through Decap's local backend (``decap-server``) on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from generator.contract import Contract, FieldRule, TableRule
from generator.layout import CASES_RESOURCE, ENTITY_SOURCES, EntitySource, Nested
from generator.model import GOVERNANCE_TAGS

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DIR = ROOT / "admin"  # package.json (pins), serve.cjs, node_modules/ and vendor/ (set up)
COMMITTED_CONFIG = ADMIN_DIR / "config.yml"  # the generated config, kept for review in PRs
SITE_FOLDER = "admin"  # where the editor lives in the built site

# Resources the editor does not offer, and why (the config test walks the package with this).
NOT_EDITED: dict[str, str] = {
    CASES_RESOURCE: "事件记录由城市大脑平台导出，一季度一个 CSV 文件、可达百万行，不在网页上逐条编辑。",
}

BACKENDS = ("github", "gitlab", "forgejo")
_HEADER = (
    "# 网页编辑器（Decap CMS）的配置，由 `gongzhi admin config` 根据 data/datapackage.yaml、\n"
    "# 数据文件布局和 mkdocs.yml 的 extra.editor 生成，请勿手工修改。\n"
)


class AdminError(Exception):
    """The editor cannot be configured, fetched or served (Chinese message)."""


# ---------------------------------------------------------------------------------------------
# Fields


def _hint(rule: FieldRule, *, id_of_file: bool = False) -> str:
    parts = []
    if rule.description:
        parts.append(rule.description.rstrip("。") + "。")
    if id_of_file:
        parts.append("保存后就是文件名，请勿再改。")
    if rule.example and not rule.enum:
        parts.append(f"例如：{rule.example}")
    return "".join(parts)


def _pattern(rule: FieldRule) -> list[str] | None:
    """Decap's ``pattern: [regex, message]`` from the pattern and length constraints (JS regex)."""
    checks, words = [], []
    if rule.min_length is not None or rule.max_length is not None:
        low = rule.min_length or 0
        high = "" if rule.max_length is None else str(rule.max_length)
        checks.append(f"(?=[\\s\\S]{{{low},{high}}}$)")
        if rule.max_length is not None:
            words.append(f"不超过 {rule.max_length} 个字")
        if rule.min_length:
            words.append(f"至少 {rule.min_length} 个字")
    if rule.pattern:
        body = rule.pattern[1:] if rule.pattern.startswith("^") else rule.pattern
        checks.append(f"(?:{body})" if body.endswith("$") else f"(?:{body})")
        words.append(_pattern_words(rule))
    if not checks:
        return None
    return ["^" + "".join(checks), f"“{rule.title}”应" + "，".join(words) + "。"]


def _pattern_words(rule: FieldRule) -> str:
    if rule.pattern == "^[a-z0-9][a-z0-9-]*$":
        return "由小写字母、数字和连字符组成，以字母或数字开头"
    if rule.pattern and rule.pattern.startswith("^[0-9]{") and rule.pattern.endswith("}$"):
        return f"是 {rule.pattern[7:-2]} 位数字"
    return f"符合格式 {rule.pattern}"


def _widget(rule: FieldRule) -> dict[str, Any]:
    if rule.enum:
        return {"widget": "select", "options": [{"label": v, "value": v} for v in rule.enum]}
    if rule.type == "list":
        if rule.name == "tags":
            options = [{"label": t, "value": t} for t in GOVERNANCE_TAGS]
            return {"widget": "select", "multiple": True, "options": options, "default": []}
        return {"widget": "list", "default": []}
    if rule.type in ("integer", "number"):
        spec: dict[str, Any] = {"widget": "number", "value_type": "int" if rule.type == "integer" else "float"}
        if rule.type == "number":
            spec["step"] = 0.01 if rule.is_money else 0.1
        if rule.minimum is not None:
            spec["min"] = rule.minimum
        if rule.maximum is not None:
            spec["max"] = rule.maximum
        return spec
    if rule.type == "date":
        # default "" keeps the field empty until chosen (Decap would fill in today's date)
        return {"widget": "datetime", "format": "YYYY-MM-DD", "date_format": "YYYY-MM-DD",
                "time_format": False, "picker_utc": True, "default": ""}
    if rule.type == "datetime":
        return {"widget": "datetime", "format": "YYYY-MM-DDTHH:mm:ss", "date_format": "YYYY-MM-DD",
                "time_format": "HH:mm:ss", "picker_utc": True, "default": ""}
    if rule.type == "boolean":
        return {"widget": "boolean", "default": False}
    long_text = rule.max_length is not None and rule.max_length >= 1000
    return {"widget": "text" if long_text else "string"}


@dataclass(frozen=True)
class _Target:
    """Where the editor finds the ids a foreign key may take."""

    collection: str
    value_field: str
    label_field: str
    file: str | None = None


def _label_field(table: TableRule) -> str:
    return next((name for name in ("name", "title", "subject") if name in table.fields), "id")


def _targets(contract: Contract) -> dict[tuple[str, str], _Target]:
    """(resource, key field) → the collection and field listing its values."""
    targets: dict[tuple[str, str], _Target] = {}
    for source in ENTITY_SOURCES:
        table = contract.tables.get(source.resource)
        if table is None:
            continue
        label = _label_field(table)
        key = table.primary_key[0] if len(table.primary_key) == 1 else source.id_field
        if source.single_file:
            for name in table.fields:
                targets[(source.resource, name)] = _Target(
                    _collection_name(source), name, label, file=_collection_name(source))
        elif key:
            targets[(source.resource, key)] = _Target(source.resource, key, label)
        for nested in source.nested:
            child = contract.tables.get(nested.resource)
            if child is None or len(child.primary_key) != 1 or nested.resource in targets_from_folders():
                continue
            child_key = child.primary_key[0]
            targets.setdefault((nested.resource, child_key), _Target(
                source.resource, f"{nested.key}.*.{child_key}", f"{nested.key}.*.{_label_field(child)}"))
    return targets


def targets_from_folders() -> set[str]:
    """Resources kept as files of their own (their folder collection is the place to pick them)."""
    return {source.resource for source in ENTITY_SOURCES if not source.single_file}


def _relation(rule: FieldRule, target: _Target) -> dict[str, Any]:
    spec: dict[str, Any] = {"widget": "relation", "collection": target.collection,
                            "value_field": target.value_field}
    if target.file:
        spec["file"] = target.file
        spec["search_fields"] = [target.value_field, target.label_field]
        spec["display_fields"] = [target.label_field]
    elif "*" in target.value_field:
        spec["search_fields"] = [target.value_field, target.label_field]
        spec["display_fields"] = [target.label_field]
    else:
        spec["search_fields"] = [target.label_field, target.value_field]
        spec["display_fields"] = [f"{{{{{target.label_field}}}}}（{{{{{target.value_field}}}}}）"]
    spec["options_length"] = 50
    return spec


def _field(rule: FieldRule, table: TableRule, targets: dict[tuple[str, str], _Target],
           *, id_of_file: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": rule.name, "label": rule.title}
    fk = next((fk for fk in table.foreign_keys if fk.fields == (rule.name,)), None)
    target = targets.get((fk.resource, fk.reference_fields[0])) if fk and len(fk.fields) == 1 else None
    if target is not None:
        spec.update(_relation(rule, target))
        hint = _hint(rule) or ""
        spec["hint"] = (hint + "从列表中选择，输入名称或编号可筛选。").strip()
    else:
        spec.update(_widget(rule))
        hint = _hint(rule, id_of_file=id_of_file)
        if hint:
            spec["hint"] = hint
        if spec["widget"] in ("string", "text"):
            pattern = _pattern(rule)
            if pattern:
                spec["pattern"] = pattern
    spec["required"] = rule.required
    return spec


def _nested_list(nested: Nested, contract: Contract, targets) -> dict[str, Any]:
    child = contract.tables[nested.resource]
    derived = {nested.parent_field, nested.seq_field}
    fields = [_field(rule, child, targets) for rule in child.fields.values() if rule.name not in derived]
    label = _label_field(child)
    spec: dict[str, Any] = {
        "name": nested.key, "label": child.title, "label_singular": child.title,
        "widget": "list", "required": False, "collapsed": True, "default": [],
        "summary": f"{{{{fields.{label}}}}}", "fields": fields,
    }
    hint = f"每项一条{child.title}记录，所属的{contract.tables[_parent_of(nested)].title}就是本文件"
    if nested.seq_field:
        hint += f"；{child.fields[nested.seq_field].title}按列表顺序自动编号（第一项为 1）"
    spec["hint"] = hint + "。"
    return spec


def _parent_of(nested: Nested) -> str:
    return next(s.resource for s in ENTITY_SOURCES if nested in s.nested)


def _collection_name(source: EntitySource) -> str:
    return source.resource if not source.single_file else PurePosixPath(source.single_file).stem


def _edited_nested(source: EntitySource) -> tuple[Nested, ...]:
    """Nested lists the editor offers: a table that also has a folder of its own (organisations)
    is edited there only, so its ids are all in one place for the relation pickers."""
    return tuple(n for n in source.nested if n.resource not in targets_from_folders())


def _collection(source: EntitySource, contract: Contract, targets, data_path: str) -> dict[str, Any]:
    table = contract.tables[source.resource]
    fields = [_field(rule, table, targets, id_of_file=(rule.name == source.id_field))
              for rule in table.fields.values()]
    fields += [_nested_list(nested, contract, targets) for nested in _edited_nested(source)]
    label = _label_field(table)
    if source.single_file:
        name = _collection_name(source)
        return {
            "name": name, "label": table.title, "editor": {"preview": False},
            "files": [{"name": name, "label": table.title, "file": f"{data_path}/{source.single_file}",
                       "fields": fields}],
        }
    spec: dict[str, Any] = {
        "name": source.resource, "label": table.title, "label_singular": table.title,
        "description": f"每条一个文件：{data_path}/{source.folder}/<编号>.yaml。",
        "folder": f"{data_path}/{source.folder}", "extension": "yaml", "format": "yaml",
        "create": True, "delete": False, "identifier_field": source.id_field, "slug": "{{slug}}",
        "summary": f"{{{{{label}}}}}（{{{{{source.id_field}}}}}）",
        "sortable_fields": [f for f in (source.id_field, label, "date") if f in table.fields],
        "editor": {"preview": False}, "fields": fields,
    }
    if source.resource == "meetings":
        spec["path"] = "{{council}}/{{slug}}"  # data/meetings/<council>/<id>.yaml
        spec["description"] = f"每次会议一个文件：{data_path}/meetings/<议事组织编号>/<编号>.yaml。"
    return spec


# ---------------------------------------------------------------------------------------------
# The whole configuration


def backend_settings(mkdocs_config: dict[str, Any]) -> dict[str, Any]:
    """Decap's ``backend`` from mkdocs.yml's ``extra.editor`` (repo and branch default to
    ``repo_url`` and ``edit_uri``)."""
    editor = dict((mkdocs_config.get("extra") or {}).get("editor") or {})
    editor.pop("enabled", None)
    name = str(editor.pop("backend", "github"))
    if name not in BACKENDS:
        raise AdminError(f"mkdocs.yml 的 extra.editor.backend 应为 {'、'.join(BACKENDS)} 之一，这里是“{name}”。")
    repo_url = urlsplit(str(mkdocs_config.get("repo_url") or ""))
    repo = editor.pop("repo", None) or repo_url.path.strip("/").removesuffix(".git")
    if not repo:
        raise AdminError("mkdocs.yml 需要 extra.editor.repo（如 owner/name）或 repo_url，网页编辑器才知道把修改提交到哪个仓库。")
    edit_uri = str(mkdocs_config.get("edit_uri") or "").strip("/").split("/")
    branch = editor.pop("branch", None) or (edit_uri[1] if len(edit_uri) >= 2 else "main")
    backend: dict[str, Any] = {"name": name, "repo": repo, "branch": branch}
    host = f"{repo_url.scheme or 'https'}://{repo_url.netloc}" if repo_url.netloc else ""
    if name == "gitlab":
        backend.update(auth_type="pkce", base_url=host or "https://gitlab.com",
                       api_root=(host or "https://gitlab.com") + "/api/v4", auth_endpoint="oauth/authorize")
    elif name == "forgejo":
        backend["api_root"] = (host or "https://codeberg.org") + "/api/v1"
    backend.update(editor)  # app_id, base_url (GitHub's OAuth proxy), api_root, …
    if name == "github" and not backend.get("base_url"):
        # without it Decap would log in through Netlify's service, a third party
        raise AdminError("GitHub 需要在 mkdocs.yml 的 extra.editor.base_url 填写 OAuth 代理的地址（见 README“网页编辑器”）；"
                         "不用网页编辑器时写 extra.editor.enabled: false。")
    if name in ("gitlab", "forgejo") and not backend.get("app_id"):
        raise AdminError(f"{name} 需要在 mkdocs.yml 的 extra.editor.app_id 填写 OAuth 应用的编号（见 README“网页编辑器”）。")
    backend["commit_messages"] = {
        "create": "新建{{collection}}：{{slug}}",
        "update": "修改{{collection}}：{{slug}}",
        "delete": "删除{{collection}}：{{slug}}",
        "uploadMedia": "上传文件：{{path}}",
        "deleteMedia": "删除文件：{{path}}",
        "openAuthoring": "{{message}}",
    }
    return backend


def editor_config(contract: Contract, backend: dict[str, Any], *, data_path: str = "data",
                  site_url: str | None = None, local: bool = False) -> dict[str, Any]:
    """Decap's whole configuration. ``local``: against decap-server (no pull requests)."""
    targets = _targets(contract)
    config: dict[str, Any] = {"locale": "zh_Hans", "backend": backend}
    if not local:
        config["publish_mode"] = "editorial_workflow"
    if site_url:
        config["site_url"] = site_url
        config["display_url"] = site_url
    config["media_folder"] = "content/assets/uploads"
    config["public_folder"] = "/assets/uploads"
    config["show_preview_links"] = False
    config["search"] = False  # Decap's whole-repository search; the collection filters serve
    config["collections"] = [_collection(source, contract, targets, data_path)
                             for source in ENTITY_SOURCES if source.resource in contract.tables]
    return config


def dump(config: dict[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=1000)


def enabled(mkdocs_file: Path) -> bool:
    """False when mkdocs.yml says ``extra.editor.enabled: false`` (no /admin/ in the site)."""
    try:
        editor = (_read_mkdocs(mkdocs_file).get("extra") or {}).get("editor") or {}
    except (OSError, yaml.YAMLError):
        return True  # project_config reports the unreadable file
    return not (isinstance(editor, dict) and editor.get("enabled") is False)


def project_config(data_dir: Path, mkdocs_file: Path, *, local_url: str | None = None) -> dict[str, Any]:
    """The configuration for the project: its package, its layout and mkdocs.yml's settings."""
    from generator.contract import ContractError, load_contract

    try:
        contract = load_contract(data_dir, check_with_frictionless=False)
    except ContractError as exc:
        raise AdminError(str(exc)) from exc
    try:
        mkdocs_config = _read_mkdocs(mkdocs_file)
    except (OSError, yaml.YAMLError) as exc:
        raise AdminError(f"无法读取 {mkdocs_file}：{exc}") from exc
    data_path = _repo_and_data_path(data_dir, mkdocs_file)[1]
    if local_url:
        backend: dict[str, Any] = {"name": "proxy", "proxy_url": local_url, "branch": "main"}
        return editor_config(contract, backend, data_path=data_path, local=True)
    return editor_config(contract, backend_settings(mkdocs_config), data_path=data_path,
                         site_url=mkdocs_config.get("site_url"))


def _read_mkdocs(path: Path) -> dict[str, Any]:
    from generator.mkdocs_feed import read_settings

    return read_settings(path)


def _repo_and_data_path(data_dir: Path, mkdocs_file: Path) -> tuple[Path, str]:
    """The repository's folder and the data folder as the git host sees it (relative to it):
    the project (mkdocs.yml's folder) when the data lies inside it, else the data's parent."""
    data = Path(data_dir).resolve()
    root = Path(mkdocs_file).resolve().parent
    try:
        return root, data.relative_to(root).as_posix()
    except ValueError:
        return data.parent, data.name


def connect_sources(backend: dict[str, Any]) -> list[str]:
    """The origins the editor may talk to besides its own: the configured git host."""
    name = backend.get("name")
    urls = [backend.get("api_root"), backend.get("base_url")]
    if name == "github":
        urls.append(backend.get("api_root") or "https://api.github.com")
    origins = []
    for url in urls:
        parts = urlsplit(str(url or ""))
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins


# ---------------------------------------------------------------------------------------------
# The pinned bundle


def vendor_pin() -> dict[str, Any]:
    package = json.loads((ADMIN_DIR / "package.json").read_text(encoding="utf-8"))
    return package["vendor"]["decap-cms"]


def vendor_dir() -> Path:
    return ADMIN_DIR / "vendor" / f"decap-cms-{vendor_pin()['version']}"


def vendor(force: bool = False) -> Path:
    """Fetch the pinned Decap CMS with ``npm pack``, check its integrity, keep the browser files."""
    pin = vendor_pin()
    target = vendor_dir()
    if (target / "decap-cms.js").is_file() and not force:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise AdminError("找不到 npm：网页编辑器（Decap CMS）要用 npm 下载，请先安装 Node.js 与 npm。")
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"decap-cms@{pin['version']}"
        run = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", tmp],
                             capture_output=True, text=True, cwd=tmp)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if run.returncode != 0 or len(tarballs) != 1:
            raise AdminError(f"npm 下载 {spec} 失败：{(run.stderr or run.stdout).strip()[-500:]}")
        data = tarballs[0].read_bytes()
        algorithm, _, expected = pin["integrity"].partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
        if actual != expected:
            raise AdminError(f"{spec} 的完整性校验不符（应为 {pin['integrity']}），文件未使用。")
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(tarballs[0]) as archive:
            for member in archive.getmembers():
                inner = member.name.removeprefix("package/")
                if member.isfile() and any(fnmatch(inner, pattern) for pattern in pin["files"]):
                    source = archive.extractfile(member)
                    assert source is not None
                    (staging / PurePosixPath(inner).name).write_bytes(source.read())
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


# ---------------------------------------------------------------------------------------------
# The page


_INDEX = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>数据编辑 · 共治</title>
<link href="config.yml" type="text/yaml" rel="cms-config-url">
<style>
/* Decap lays its editor out for 800 px and wider; on a phone it would scroll sideways. */
@media (max-width: 799px) {{
  [class*="-EditorContainer"], [class*="-ToolbarContainer"], [class*="-AppMainContainer"] {{ min-width: 0 !important; }}
  [class*="-ToolbarContainer"] {{ flex-wrap: wrap; height: auto !important; }}
}}
</style>
</head>
<body>
<noscript>网页编辑器需要启用 JavaScript。也可以直接在仓库中修改 data/ 下的 YAML 文件。</noscript>
<script src="{bundle}/decap-cms.js"></script>
</body>
</html>
"""


def index_html(backend: dict[str, Any]) -> str:
    hosts = " ".join(connect_sources(backend))
    csp = "; ".join([
        "default-src 'self'",
        f"connect-src 'self' {hosts}".strip(),
        f"img-src 'self' data: blob: {hosts}".strip(),
        "style-src 'self' 'unsafe-inline'",
        # Decap compiles its configuration schema with ajv, which builds functions at run time
        "script-src 'self' 'unsafe-eval'",
        "font-src 'self' data:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
    ])
    return _INDEX.format(csp=csp, bundle=vendor_dir().name)


def write_admin(folder: Path, config: dict[str, Any]) -> None:
    """``folder`` gets the editor: index.html, config.yml and the vendored bundle."""
    bundle = vendor_dir()
    if not (bundle / "decap-cms.js").is_file():
        raise AdminError("缺少网页编辑器 Decap CMS 的文件：请先运行 scripts/setup（需要 Node.js 与 npm）。")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(index_html(config["backend"]), encoding="utf-8")
    (folder / "config.yml").write_text(dump(config), encoding="utf-8")
    copy = folder / bundle.name
    if not copy.exists():
        shutil.copytree(bundle, copy)


# ---------------------------------------------------------------------------------------------
# Local use: decap-server against the working tree


class LocalEditor:
    """``admin/serve.cjs`` (Decap's local file-system backend and the editor, one origin) on
    127.0.0.1. Saving writes the files in the working tree directly: no branch, no pull request.
    """

    def __init__(self, data_dir: Path, mkdocs_file: Path, *, port: int = 0, timeout: float = 30.0):
        self.data_dir = Path(data_dir)
        self.mkdocs_file = Path(mkdocs_file)
        self.port = port or _free_port()
        self.timeout = timeout
        self.url = f"http://127.0.0.1:{self.port}/admin/"
        self.process: subprocess.Popen[str] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> LocalEditor:
        node = shutil.which("node")
        if node is None:
            raise AdminError("找不到 node：本机编辑要用 Node.js 运行 decap-server，请先安装 Node.js。")
        if not (ADMIN_DIR / "node_modules" / "decap-server").is_dir():
            raise AdminError("缺少 decap-server：请先运行 scripts/setup（它用 npm 安装 admin/package.json 中固定的版本）。")
        if not self.data_dir.is_dir():
            raise AdminError(f"找不到数据文件夹 {self.data_dir}。")
        root, _ = _repo_and_data_path(self.data_dir, self.mkdocs_file)
        api = f"http://127.0.0.1:{self.port}/api/v1"
        config = project_config(self.data_dir, self.mkdocs_file, local_url=api)
        self._folder = tempfile.TemporaryDirectory(prefix="gongzhi-admin-")
        folder = Path(self._folder.name) / SITE_FOLDER
        write_admin(folder, config)
        self.process = subprocess.Popen(
            [node, str(ADMIN_DIR / "serve.cjs"), str(folder), str(root), str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ADMIN_DIR,
        )
        ready = self.process.stdout.readline() if self.process.stdout else ""
        if not ready.startswith("ready"):
            error = self.process.stderr.read() if self.process.stderr and self.process.poll() is not None else ""
            self.close()
            raise AdminError(f"decap-server 没有启动（端口 {self.port} 可能已被占用）：{error.strip()[-400:]}")
        return self

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr) if self.process else ():
            if stream:
                stream.close()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
