"""Cheap entry points: ``import docchat`` and ``docchat --help`` load no heavy dependency.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded only when a document is parsed, a vector computed or the engine opened.
HEAVY = ("numpy", "onnxruntime", "pypdfium2", "docx", "pptx", "openpyxl", "selectolax")

_REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"


def _heavy_loaded(code: str) -> list[str]:
    """The heavy modules loaded after running ``code`` in a fresh interpreter."""
    script = f"{code}\n{_REPORT.format(heavy=HEAVY)}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_import_docchat_loads_no_heavy_dependency() -> None:
    assert _heavy_loaded("import docchat") == []


def test_help_loads_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['docchat', '--help']\n"
        "from docchat.cli import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
    )
    assert _heavy_loaded(code) == []


def test_exports_still_load_when_used() -> None:
    code = "from docchat import Workspace, search\nassert Workspace.__name__ == 'Workspace'"
    assert "numpy" in _heavy_loaded(code)
