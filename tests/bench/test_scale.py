"""bench/scale.py at a tiny size, so that the million-chunk benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "scale.py"


@pytest.mark.slow
def test_scale_runs_and_its_checks_hold(pg_admin_url: str, tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    work = tmp_path / "work"
    work.mkdir()
    args = ["--sizes", "2000", "--queries", "20", "--database-url", pg_admin_url]
    args += ["--work-dir", str(work), "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Search through docchat at 2,000 chunks (20 dense and 20 hybrid" in done.stdout
    (res,) = json.loads(out.read_text())["sizes"]
    assert res["size"] == 2000
    assert [d["scope"] for d in res["search"]] == [
        "all documents",
        "one owner",
        "owner + large collection",
        "owner + small collection",
    ]
    for d in res["search"]:
        assert len(d["dense_ns"]) == len(d["hybrid_ns"]) == len(d["fulltext_ns"]) == 20
        assert 0.0 <= d["dense_recall"] <= 1.0
        # Far under the postings budget: every query word is searched.
        assert d["words_searched"] == 1.0
        assert d["hybrid_empty"] == 0  # every hybrid search found passages
    # Filters narrow: each scope holds fewer chunks than the one before.
    counts = list(res["scope_chunks"].values())
    assert counts[0] == 2000 and counts == sorted(counts, reverse=True)
    # The sweep's copy of docchat's statement finds what docchat's own search finds, and the
    # NumPy answers recall is measured against are PostgreSQL's exact answers.
    assert res["sweep_matches_docchat"] == 1.0
    assert all(check["agreement"] == 1.0 for check in res["exact"].values())
    assert res["indexes"]["vector"]["bytes"] > res["indexes"]["halfvec"]["bytes"] > 0
    # The benchmark's database is dropped and its folder removed.
    admin = create_engine(pg_admin_url)
    with admin.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'docchat_scale_%'")
        ).scalar_one()
    admin.dispose()
    assert left == 0
    assert list(work.iterdir()) == []
