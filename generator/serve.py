"""``gongzhi serve``: preview on 127.0.0.1, rebuilding when data/, content/ or templates change.

It runs the same pipeline as ``gongzhi build`` (never a ``--dirty`` build) into a preview folder
under ``.gongzhi/`` and serves it with MkDocs' live-reload server, which injects its small
reload script into every page from the same origin. When the data has errors the previous
preview stays up and the errors are reported through ``log``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from generator.build import DEFAULT_CONFIG, DEFAULT_CONTENT, ROOT, BuildError, build
from generator.issues import DataError, Issue
from generator.render import TEMPLATES_DIR

PREVIEW_DIR = ROOT / ".gongzhi" / "preview"


class ServeError(Exception):
    """The preview could not start (the port is taken, the first build failed, ...)."""


def _describe(issues: list[Issue]) -> str:
    try:
        from generator.cli_validate import format_text

        return format_text(issues)
    except ImportError:  # pragma: no cover
        return "\n".join(i.to_text() for i in issues)


def serve(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config_file: Path = DEFAULT_CONFIG,
    content_dir: Path = DEFAULT_CONTENT,
    site_dir: Path = PREVIEW_DIR,
    log: Callable[[str], None] = lambda message: None,
) -> None:
    """Build once, then serve and rebuild on every change until interrupted."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.livereload import LiveReloadServer

    data_dir = Path(data_dir).resolve()

    def rebuild() -> bool:
        try:
            report = build(data_dir, site_dir, config_file=config_file, content_dir=content_dir)
        except DataError as exc:
            log(_describe(exc.issues))
            log("数据有错误，预览保持上一次成功的版本。修正后保存即可自动重建。")
            return False
        except BuildError as exc:
            log(f"生成失败：{exc}")
            return False
        log(
            f"已重建：新写入或更新 {report.pages_written} 个页面，"
            f"用时 {report.wall_s:.1f} 秒。"
        )
        return True

    if not rebuild() and not site_dir.exists():
        raise ServeError("第一次生成失败，请先修正上面的问题。")

    server = LiveReloadServer(builder=rebuild, host=host, port=port, root=str(site_dir))
    for path in (data_dir, content_dir, TEMPLATES_DIR, config_file):
        if Path(path).exists():
            server.watch(str(path))
    logging.getLogger("mkdocs.livereload").setLevel(logging.WARNING)
    log(f"预览地址：http://{host}:{port}/ （按 Ctrl+C 停止）")
    try:
        server.serve()
    except OSError as exc:
        raise ServeError(f"无法在 {host}:{port} 上启动：{exc.strerror or exc}") from exc
    except KeyboardInterrupt:
        log("预览已停止。")
    finally:
        server.shutdown()
