"""Coverage-guided fuzzing of one input path with atheris (libFuzzer for Python).

The targets are those of ``tests/fuzzing.py``; Gongzhi's own modules are instrumented, so
libFuzzer keeps the inputs that reach new branches and mutates those. The seed corpus is the
sample's own files. A crash (anything but issues or a Chinese refusal) stops the run with the
input saved by libFuzzer (``crash-…``) and its traceback.

    .venv/bin/pip install -e ".[fuzz]"
    .venv/bin/python bench/fuzz_atheris.py form_yaml -max_total_time=300
    .venv/bin/python bench/fuzz_atheris.py intake_body -runs=200000

Any libFuzzer option may follow the target's name.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

with atheris.instrument_imports(include=["generator"]):
    import generator.casecheck  # noqa: F401
    import generator.forms.definitions  # noqa: F401
    import generator.forms.responses  # noqa: F401
    import generator.intake.app  # noqa: F401
    import generator.load  # noqa: F401
    import generator.validate  # noqa: F401

import fuzzing  # noqa: E402

MEDIA = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
         "multipart/form-data; boundary=----gz", "text/plain"]


def corpus(name: str) -> Path:
    """A folder of seed inputs for ``name``: the sample's files, and generated ones."""
    import random

    folder = Path(tempfile.mkdtemp(prefix=f"gongzhi-corpus-{name}-"))
    target = fuzzing.TARGETS[name]
    for seed in range(64):
        item = target.generate(random.Random(seed))
        if isinstance(item, fuzzing.HttpInput):
            item = bytes([MEDIA.index(item.content_type) if item.content_type in MEDIA else 0]) + item.body
        (folder / f"seed-{seed}").write_bytes(item)
    return folder


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in fuzzing.TARGETS:
        sys.exit(f"usage: fuzz_atheris.py TARGET [libFuzzer options]; TARGET one of {', '.join(fuzzing.TARGETS)}")
    name = sys.argv[1]
    target = fuzzing.TARGETS[name]
    logging.getLogger("python_multipart").setLevel(logging.ERROR)

    def one(data: bytes) -> None:
        if name == "intake_body":
            item = fuzzing.HttpInput(MEDIA[data[0] % len(MEDIA)] if data else MEDIA[0], data[1:],
                                     chunks=1 + (len(data) % 3))
        else:
            item = data
        fuzzing.guarded(target, item, 20)

    args = [sys.argv[0], *sys.argv[2:], str(corpus(name))]
    atheris.Setup(args, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
