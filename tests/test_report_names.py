"""Run directory names say which pruning choices differ from the defaults (issue 25, point 1)."""

from __future__ import annotations

import re

from robust_tickets.config import PRESETS
from robust_tickets.resolve import from_flat


def test_a_default_config_keeps_its_name():
    assert from_flat(PRESETS["quick"]).name() == (
        "fashion_mnist-dense-300-100-fgsm-adv-reset-b5fb551c27"
    )
    explicit = {**PRESETS["quick"], "criterion": "magnitude", "one_shot": False}
    assert from_flat(explicit).name() == from_flat(PRESETS["quick"]).name()


def test_non_default_pruning_choices_appear_in_the_name():
    base = from_flat(PRESETS["finding"])
    random = from_flat({**PRESETS["finding"], "criterion": "random"})
    assert random.name() != base.name()
    assert random.name().startswith("fashion_mnist-dense-300-100-fgsm-adv-reset-criterion_random-")
    both = from_flat({**PRESETS["finding"], "criterion": "hydra", "one_shot": True,
                      "prune_method": "global"})  # fmt: skip
    assert "-reset-criterion_hydra-one_shot-global-" in both.name()


def test_a_random_criterion_run_is_told_apart_and_never_set_against_the_paper(tmp_path):
    """Issue 25 point 1: `--criterion random` beside the default magnitude run of the same
    setup: two titled sections, its own rows, no paper column or Δ for the random tickets."""
    from tests.test_report import PAPER_REMAINING, _csv, _experiment, _paper_store, _write_level

    from robust_tickets.cli.main import main

    _paper_store(tmp_path / "r")
    random = _experiment(tmp_path / "r", "reset", prune_iters=3, criterion="random")
    assert "-reset-criterion_random-" in random.path.name
    for trial in range(2):
        for level, remaining in PAPER_REMAINING.items():
            _write_level(random, trial, level, remaining=remaining)
    assert main(["report", str(tmp_path / "r"), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    titles = re.findall(r"<h2 id=\"setting-[^\"]*\">([^<]*)</h2>", page)
    assert len(titles) == 2 and len(set(titles)) == 2
    assert any(t.endswith("· criterion random") for t in titles)
    # one compared experiment (the magnitude one): no Tables 1-2 layout, and the random run's
    # summary has no paper column, with a note saying why
    assert not (tmp_path / "out" / "tables" / "paper_tables_1_2.csv").exists()
    summaries = {p.name: _csv(p) for p in (tmp_path / "out" / "tables").glob("summary_*.csv")}
    assert len(summaries) == 2
    papers = [any(r["paper_pct_mean"] for r in rows) for rows in summaries.values()]
    assert sorted(papers) == [False, True]
    random_md = next(
        p.read_text()
        for p in (tmp_path / "out" / "tables").glob("summary_*.md")
        if "criterion random" in p.read_text()
    )
    assert "paper" not in random_md.splitlines()[2] and "Δ" not in random_md
    assert "No paper column" in random_md


def test_the_header_names_the_preset_its_command_starts_from():
    """A `--preset lenet5` command is never shown beside "(no preset)"."""
    from types import SimpleNamespace

    from robust_tickets.report.header import closest_preset, preset_text

    lenet = SimpleNamespace(flat=from_flat({**PRESETS["lenet5"], "train_iters": 10}).flat())
    assert closest_preset(lenet) == ("lenet5", {"train_iters": 10})
    assert preset_text(lenet) == "preset lenet5 with 1 setting changed"
    finding = SimpleNamespace(flat=from_flat(PRESETS["finding"]).flat())
    assert preset_text(finding) == "preset finding"
