"""The parts behind a ``Workspace``'s facade, for benchmarks that time one part on its own.

The accessors are those of ``tests/workspace_parts.py``, the one place code reaches behind the
facade; a benchmark runs as a script, with ``bench/`` on its path rather than the repository
root, so the root is put on the path first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.workspace_parts import Parts, parts

__all__ = ["Parts", "parts"]
