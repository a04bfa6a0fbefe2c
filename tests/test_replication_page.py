"""The replication page's tables are what the committed rows give (docs/replication/): each
script regenerates its committed files exactly, and the page shows its tables unedited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ROOT / "docs" / "replication" / "original"

# script -> (the files it writes, the ones the page shows)
SCRIPTS = {
    "tables.py": (
        ("tables_1_2.md", "tables_1_2.csv", "tables_1_2_summary.json"),
        ("tables_1_2.md",),
    ),
    "pgd_dense_gap.py": (
        ("pgd_dense_gap.json", "pgd_dense_numerics.md"),
        ("pgd_dense_numerics.md",),
    ),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_replication_tables_are_regenerated_exactly_from_the_committed_rows_and_shown_on_the_page(
    script, tmp_path
):
    path = ROOT / "scripts" / "replication" / script
    subprocess.run([sys.executable, str(path), str(tmp_path)], check=True, capture_output=True)
    written, shown = SCRIPTS[script]
    for name in written:
        assert (tmp_path / name).read_text() == (ORIGINAL / name).read_text(), name
    page = (ROOT / "docs" / "replication" / "README.md").read_text()
    for name in shown:
        assert (ORIGINAL / name).read_text() in page, name  # the page shows the table unedited
