"""Runs that differ only in their training objective (mixed, madry, trades) stay apart in
`results` rows and in the report: separate rows, settings, titles and lines, never averaged
together; and a level whose final weights are the overfitting check's best check says so."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest

from robust_tickets.cli.main import main
from robust_tickets.report.paper import paper_rows
from robust_tickets.report.replication import load_rows, reference_for
from robust_tickets.report.sections.robustness_curves import robustness_curves
from robust_tickets.report.style import setting_slug, setting_title, training_mode
from robust_tickets.resolve import from_flat
from robust_tickets.results import (
    ADDED_FIELDS,
    EVAL_ROW_FIELDS,
    ROW_FIELDS,
    objective_params,
    table_fields,
)
from robust_tickets.store import read_json, write_json

TINY = ["--train-iters", "3", "--eval-every", "3", "--prune-iters", "1", "--valid-size", "200"]
TINY += ["--test-size", "100", "--attack", "pgd", "--steps", "2", "--quiet"]
# level 1 of the mixed run's trial 0 is marked as ending with a best check's weights
BEST = {"step": 2, "epoch": 0.002, "from": "best_check"}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion) -> Path:
    """A mixed and a madry run of one setting (two levels each), as `run` writes them."""
    root = tmp_path_factory.mktemp("objectives") / "results"
    for objective in ("mixed", "madry"):
        assert main(["run", *TINY, "--objective", objective, "-o", str(root)]) == 0
    (mixed,) = [p for p in root.glob("fashion_mnist-*") if "madry" not in p.name]
    done = mixed / "trial_0" / "level_01" / "done.json"
    write_json(done, {**read_json(done), "final_weights": BEST})
    return root


@pytest.fixture(scope="module")
def report(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("objective-report") / "r"
    assert main(["report", str(store), "--out", str(out)]) == 0
    return out


def test_results_rows_name_the_objective_and_where_final_weights_come_from(store, tmp_path):
    target = tmp_path / "rows.csv"
    assert main(["results", str(store), "--csv", str(target)]) == 0
    header, rows = _read_csv(target)
    # the columns added last, after every column a table read by position knows
    assert header == list(ROW_FIELDS) and header[-len(ADDED_FIELDS) :] == list(ADDED_FIELDS)
    by_experiment = {r["experiment"]: r["objective"] for r in rows}
    assert sorted(by_experiment.values()) == ["madry", "mixed"]
    assert all(r["adv_train"] == "True" and r["objective_params"] == "" for r in rows)
    marked = {(r["experiment"], r["trial"], r["level"]) for r in rows if r["final_from"]}
    mixed = next(e for e, o in by_experiment.items() if o == "mixed")
    assert marked == {(mixed, "0", "1")}
    assert {r["final_from"] for r in rows if r["final_from"]} == {"best_check"}


def test_the_eval_table_keeps_its_columns_and_ends_with_the_added_ones():
    fields = table_fields(include_eval=True)
    assert fields[-len(ADDED_FIELDS) :] == ADDED_FIELDS
    before = [f for f in fields if f not in ADDED_FIELDS]
    # the layout before the objective columns: the training rows' columns, then evaluate's
    assert before[: len(ROW_FIELDS) - len(ADDED_FIELDS)] == list(ROW_FIELDS[: -len(ADDED_FIELDS)])
    assert set(EVAL_ROW_FIELDS) <= set(fields)


def test_the_report_has_one_setting_per_objective(report):
    page = html.unescape((report / "index.html").read_text())
    titles = re.findall(r'<h2 id="setting-[^"]*">([^<]*)</h2>', page)
    # mixed keeps the title it always had; madry is named
    assert [t.split(" · ")[-1] for t in titles] == [
        "adversarial training",
        "adversarial training (madry)",
    ]
    tables = sorted(p.name for p in (report / "tables").glob("table_*_reset.csv"))
    assert tables == [
        "table_fashion_mnist-dense-300-100-pgd-adv-madry_reset.csv",
        "table_fashion_mnist-dense-300-100-pgd-adv_reset.csv",
    ]
    for name in tables:
        _, rows = _read_csv(report / "tables" / name)
        assert {r["objective"] for r in rows} == {"madry" if "madry" in name else "mixed"}
        assert {r["n"] for r in rows} == {"1"}  # one run each: nothing averaged across


def test_the_setting_says_which_levels_end_with_a_best_checks_weights(report):
    page = html.unescape((report / "index.html").read_text())
    assert page.count("Final weights from the catastrophic-overfitting check's best check") == 1
    assert "reset trial 0 level 1 (80.0% left): step 2 (epoch 0.002)" in page


def test_titles_and_slugs_name_an_objective_adv_train_does_not_imply():
    base = {"dataset": "fashion_mnist", "attack": "pgd"}
    mixed = from_flat({**base, "adv_train": True}).flat()
    madry = from_flat({**base, "objective": "madry"}).flat()
    trades = from_flat({**base, "objective": "trades", "trades_beta": 1.0}).flat()
    natural = from_flat(base).flat()
    assert [training_mode(f) for f in (natural, mixed, madry, trades)] == [
        "natural", "adversarial", "adversarial (madry)", "adversarial (trades trades_beta=1.0)"
    ]  # fmt: skip
    assert objective_params(trades) == "trades_beta=1.0" and objective_params(madry) == ""
    assert setting_title(trades).endswith("adversarial training (trades trades_beta=1.0)")
    assert len({setting_slug(f) for f in (mixed, madry, trades)}) == 3
    assert setting_slug(mixed) == "fashion_mnist-dense-300-100-pgd-adv"


def test_only_the_papers_objectives_are_set_against_the_paper_and_its_replication(tmp_path):
    paper = {"dataset": "fashion_mnist", "attack": "fgsm", "strategy": "reset"}
    mixed = from_flat({**paper, "adv_train": True}).flat()
    madry = from_flat({**paper, "objective": "madry"}).flat()
    assert paper_rows(mixed) is not None and paper_rows(madry) is None
    # a replication file written before rows named the objective: its adversarial runs are
    # the paper's mixed ones
    columns = ["experiment", "dataset", "model", "attack", "eps", "adv_train", "strategy",
               "trial", "level", "remaining", "iteration", "split", "acc", "adv_acc"]  # fmt: skip
    values = ["e", "fashion_mnist", "dense-300-100", "fgsm", "0.3", "True", "reset", "0", "0",
              "100.0", "30000", "test", "0.9", "0.8"]  # fmt: skip
    path = tmp_path / "metrics.csv"
    path.write_text(",".join(columns) + "\n" + ",".join(values) + "\n")
    rows = load_rows(path)
    assert reference_for(rows, mixed, 30000) is not None
    assert reference_for(rows, madry, 30000) is None


def test_robustness_curves_keep_objectives_apart():
    def row(objective: str, acc: float) -> dict:
        return {
            "experiment": objective, "dataset": "mnist", "attack": "pgd", "eps": 0.3,
            "adv_train": True, "strategy": "reset", "objective": objective,
            "objective_params": "", "split": "robustness", "eval_attack": "worst-case",
            "n_examples": 10, "remaining": 100.0, "eval_eps": 0.3, "acc": acc, "trial": 0,
        }  # fmt: skip

    fig = robustness_curves([row("mixed", 0.5), row("madry", 0.7)])
    assert fig is not None
    titles = sorted(ax.get_title() for ax in fig.axes if ax.get_visible())
    assert titles == ["mnist pgd-adv (madry) eps 0.3, reset", "mnist pgd-adv eps 0.3, reset"]
