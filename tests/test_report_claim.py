"""The claim figure and table: the paper's measure against the worst case, per training mode."""

from __future__ import annotations

import pytest

from robust_tickets.report.sections.robustness import finding
from robust_tickets.report.sections.robustness_claim import claim_figure, claim_table, panels
from robust_tickets.report.strong import flags, group, masking_table


def _rows(experiment: str, adv_train: bool, levels: dict[int, float], trained, worst, fgsm):
    base = {"experiment": experiment, "dataset": "mnist", "model": "dense-300-100",
            "attack": "fgsm", "eps": 0.3, "adv_train": adv_train, "strategy": "reset",
            "train_iters": 100, "iteration": 100, "trial": 0}  # fmt: skip
    rows = []
    for i, (level, remaining) in enumerate(levels.items()):
        where = {**base, "level": level, "remaining": remaining}
        rows.append({**where, "split": "test", "acc": 0.9, "adv_acc": trained[i]})
        for attack, acc in (
            ("fgsm", fgsm[i]),
            ("apgd-ce", worst[i] + 0.01),
            ("worst-case", worst[i]),
        ):
            rows.append({**where, "split": "robustness", "role": "curve", "eval_eps": 0.3,
                         "n_examples": 200, "eval_attack": attack, "eval_params": "",
                         "acc": acc, "seconds": 1.0})  # fmt: skip
    return rows


@pytest.fixture
def rows():
    levels = {0: 100.0, 3: 51.28, 8: 16.88}
    adv = _rows("adv", True, levels, [0.94, 0.96, 0.97], [0.0, 0.01, 0.02], [0.9, 0.92, 0.95])
    nat = _rows("nat", False, levels, [0.08, 0.1, 0.13], [0.0, 0.0, 0.0], [0.07, 0.08, 0.09])
    pgd = _rows("pgd", True, {0: 100.0}, [0.5], [0.09], [0.7])
    for r in pgd:
        r.update(attack="pgd", steps=10, step_size=0.05)
    check = {"experiment": "adv", "trial": 0, "level": 3, "remaining": 51.28, "split":
             "masking-check", "eval_eps": 0.3, "n_examples": 200}  # fmt: skip
    checks = [{**check, "check": "monotone", "flag": "warn"},
              {**check, "check": "unbounded", "flag": "pass"}]  # fmt: skip
    return adv + nat + pgd + checks


def test_claim_panels_pair_natural_and_adversarial_training(rows):
    grouped = panels(group(rows))
    assert [k[2] for k in grouped] == ["fgsm", "pgd"]
    fgsm = next(iter(grouped.values()))
    assert [s.experiment for s in fgsm] == ["adv", "nat"]  # adversarial first


def test_claim_table_holds_both_measures_and_the_masking_flags(rows):
    checks = masking_table(rows)
    assert flags(checks) == {("adv", 3): ["monotone"]}
    table = claim_table(group(rows), checks)
    raw = [dict(zip(table.raw_header, r, strict=True)) for r in table.raw_rows]
    assert [(r["experiment"], r["level"]) for r in raw] == [
        ("adv", 0), ("adv", 3), ("adv", 8), ("nat", 0), ("nat", 3), ("nat", 8), ("pgd", 0)
    ]  # fmt: skip
    adv3 = raw[1]
    assert adv3["training_attack_pct"] == 96.0  # the training-time metric, not evaluate's FGSM
    assert adv3["training_attack_evaluate_pct"] == 92.0 and adv3["worst_case_pct"] == 1.0
    assert adv3["masking_flags"] == "monotone" and table.rows[1][-1] == "warn: monotone"
    assert table.rows[0][-1] == "—" and "200" in table.notes[0]  # no checks ran at level 0


def test_claim_figure_draws_both_training_modes_and_rings_flagged_levels(rows):
    drawn = claim_figure(group(rows), masking_table(rows))
    (ax,) = [a for a in drawn.fig.axes if a.get_visible()]  # the dense-only PGD: no panel
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "adversarial: FGSM (the paper's measure)" in labels
    assert "natural: worst case of the strong attacks" in labels
    assert "adversarial: a masking check warns" in labels
    assert "natural: a masking check warns" not in labels
    flagged = [d for d in drawn.data if d["masking_flags"]]
    assert [(d["training"], d["level"]) for d in flagged] == [("adversarial", 3)]
    worst = {(d["training"], d["level"]): d["worst_case_pct"] for d in drawn.data}
    assert worst[("adversarial", 8)] == pytest.approx(2.0) and worst[("natural", 8)] == 0.0
    assert claim_figure(group([r for r in rows if r["experiment"] == "pgd"]), []) is None


def test_finding_falls_back_to_the_training_metric_when_evaluate_skipped_the_training_attack(
    rows,
):
    by_name = {s.experiment: s for s in group(rows)}
    for r in rows:  # the PGD run was evaluated with fgsm and apgd-ce, not with pgd itself
        assert not (r["experiment"] == "pgd" and r.get("eval_attack") == "pgd")
    text = finding(by_name["pgd"])
    assert "(pgd, as measured during training on the full test set)" in text
    assert text.endswith("100%: 50.0 → 9.0.")
    assert finding(by_name["adv"]).endswith(
        "100%: 90.0 → 0.0; 51.3%: 92.0 → 1.0; 16.9%: 95.0 → 2.0."
    )
