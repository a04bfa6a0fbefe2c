"""The replication page's tables are what the committed rows give (docs/replication/): each
script regenerates its committed files exactly, and the page shows its tables unedited."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ROOT / "docs" / "replication" / "original"


def _two_runs(first: str, second: str, out: str, *names: str, shown: bool) -> tuple:
    args = [str(ORIGINAL / first), str(ORIGINAL / second), "{out}/" + out, *names]
    return args, (f"{out}.md", f"{out}.json"), (f"{out}.md",) if shown else ()


# name -> (script, its arguments ({out}: the folder it writes to), the files it writes, the ones
# the page shows)
CASES = {
    "tables_1_2": (
        "tables.py",
        ["{out}"],
        ("tables_1_2.md", "tables_1_2.csv", "tables_1_2_summary.json"),
        ("tables_1_2.md",),
    ),
    "pgd_dense_numerics": (
        "pgd_dense_gap.py",
        ["{out}"],
        ("pgd_dense_gap.json", "pgd_dense_numerics.md"),
        ("pgd_dense_numerics.md",),
    ),
    "two_machines": (
        "two_runs.py",
        *_two_runs(
            "pgd_adv_stopped_first_machine.csv.gz",
            "pgd_adv_stopped.csv.gz",
            "pgd_adv_two_machines",
            shown=False,  # linked from the page
        ),
    ),
    "prune_count": (
        "two_runs.py",
        *_two_runs(
            "prune_count_schedule.csv.gz",
            "prune_count_original.csv.gz",
            "prune_count_effect",
            "schedule,original",
            shown=True,
        ),
    ),
    "full_vs_stopped": (
        "two_runs.py",
        *_two_runs(
            "pgd_adv_stopped.csv.gz",
            "pgd_adv_full.csv.gz",
            "pgd_adv_full_vs_stopped",
            "stopped,full",
            shown=True,
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_replication_tables_are_regenerated_exactly_from_the_committed_rows_and_shown_on_the_page(
    case, tmp_path
):
    script, args, written, shown = CASES[case]
    path = ROOT / "scripts" / "replication" / script
    args = [a.replace("{out}", str(tmp_path)) for a in args]
    subprocess.run([sys.executable, str(path), *args], check=True, capture_output=True)
    for name in written:
        assert (tmp_path / name).read_text() == (ORIGINAL / name).read_text(), name
    page = (ROOT / "docs" / "replication" / "README.md").read_text()
    for name in shown:
        assert (ORIGINAL / name).read_text() in page, name  # the page shows the table unedited
