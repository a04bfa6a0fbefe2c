"""The criteria comparison of the report: settings grouped across criteria, differences from
magnitude at matched sparsity, the dense reference, and the strong-attack panel."""

from __future__ import annotations

import math

import pytest

from robust_tickets.report.data import DEFAULT_AT, load_data
from robust_tickets.report.sections.criteria import (
    criteria_figure,
    criteria_settings,
    criteria_table,
)
from robust_tickets.resolve import from_flat
from robust_tickets.store import experiment_dir, write_config, write_json, write_metrics

BASE = {"adv_train": True, "attack": "pgd", "train_iters": 10, "eval_every": 10, "prune_iters": 1}


def _store(root, values, accs, trials=(0,)):
    """A finished experiment whose level k has test accuracy accs[k] (+ trial / 100)."""
    config = from_flat({**BASE, **values})
    exp = experiment_dir(root, config)
    write_config(exp, config)
    for trial in trials:
        for level, (acc, remaining) in enumerate(accs):
            level_dir = exp.trial(trial).level(level)
            write_json(level_dir.info, {"level": level, "remaining": remaining})
            a = acc + trial / 100
            rows = [
                {"iteration": i, "split": s, "loss": 1.0, "acc": a, "adv_acc": a / 2, "adv_loss": 2}
                for i in (0, 10)
                for s in ("valid", "test")
            ]
            write_metrics(level_dir.metrics, rows)
            write_json(level_dir.done, {"level": level})
    return config


def load_criteria(dirs):
    data = load_data(dirs, DEFAULT_AT)
    return criteria_settings(data.series, data.strongs)


def test_criteria_of_one_setting_are_compared_at_matched_sparsity(tmp_path):
    _store(tmp_path, {"criterion": "magnitude"}, [(0.8, 100.0), (0.7, 80.0)], trials=(0, 1))
    _store(tmp_path, {"criterion": "random"}, [(0.8, 100.0), (0.6, 80.0)], trials=(0, 1))
    _store(
        tmp_path,
        {"criterion": "hydra", "strategy": "continue", "one_shot": True},
        [(0.8, 100.0), (0.75, 80.0)],
    )
    _store(tmp_path, {"strategy": "dense"}, [(0.85, 100.0)])
    _store(tmp_path, {"criterion": "random", "attack": "fgsm"}, [(0.5, 100.0)])  # alone: skipped
    [setting] = load_criteria([tmp_path])
    assert [line.label for line in setting.lines] == [
        "magnitude",
        "hydra (continue, one-shot)",
        "random",
    ]
    assert setting.dense is not None and setting.dense.stat(100.0, "acc")[0] == pytest.approx(85)
    header, rows, raw = criteria_table(setting)
    assert header[0] == "% left" and len(header) == 1 + 3 * 2
    by_remaining = {r[0]: r for r in raw}
    # random at 80%: mean of 60 and 61 = 60.5, std of two trials, 10 points below magnitude
    random_acc = by_remaining[80.0][1 + 2 * 2 * 4 : 1 + 2 * 2 * 4 + 4]
    assert random_acc[0] == pytest.approx(60.5) and random_acc[3] == pytest.approx(-10.0)
    assert random_acc[1] == pytest.approx(math.sqrt(0.5)) and random_acc[2] == 2
    assert "(-10.0)" in rows[1][5] and "(+4.5)" in rows[1][3]  # hydra 75 vs magnitude 70.5
    fig = criteria_figure(setting)
    axes = fig.get_axes()
    assert len(axes) == 2  # no strong-attack results: natural and adversarial only
    assert any(line.get_label() == "dense" for line in axes[0].get_lines())
    assert len(fig.legends[0].get_texts()) == 4  # three criteria + dense, beside the panels


def _strong(root, config, level, acc, eps):
    """A `robustness.csv` as `evaluate` writes it: one attack and the worst case."""
    from robust_tickets.evaluation.store import TABLE_FIELDS, RobustnessDir

    table = RobustnessDir.of(experiment_dir(root, config).trial(0).level(level)).table
    table.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(TABLE_FIELDS)]
    for attack in ("apgd-ce", "worst-case"):
        lines.append(f"{attack},,{eps},100,{round(acc * 100)},{acc},curve,1.0")
    table.write_text("\n".join(lines) + "\n")


def test_strong_attack_worst_case_is_a_third_panel_at_the_training_eps(tmp_path):
    magnitude = _store(tmp_path, {"criterion": "magnitude"}, [(0.8, 100.0), (0.7, 80.0)])
    shuffle = _store(tmp_path, {"criterion": "shuffle"}, [(0.8, 100.0), (0.6, 80.0)])
    _strong(tmp_path, magnitude, 1, 0.30, 0.3)
    _strong(tmp_path, shuffle, 1, 0.20, 0.3)
    _strong(tmp_path, shuffle, 0, 0.99, 0.1)  # another eps: not the training eps, ignored
    [setting] = load_criteria([tmp_path])
    assert len(criteria_figure(setting).get_axes()) == 3
    header, rows, _ = criteria_table(setting)
    assert header[-1] == "shuffle: worst case"
    assert rows[1][-1] == "20.0 (-10.0)" and rows[0][-1] == "—"


def test_the_report_has_a_criteria_section_with_its_figure_and_table(tmp_path):
    from robust_tickets.report.build import build_report

    _store(tmp_path / "r", {"criterion": "magnitude"}, [(0.8, 100.0), (0.7, 80.0)])
    _store(tmp_path / "r", {"criterion": "snip"}, [(0.8, 100.0), (0.65, 80.0)])
    index = build_report([tmp_path / "r"], tmp_path / "out")
    stem = "criteria_fashion_mnist_dense-300-100_pgd_adv_layerwise"
    for name in (f"figures/fig_{stem}.png", f"figures/fig_{stem}.svg", f"tables/table_{stem}.csv"):
        assert (index.parent / name).is_file()
    table = (index.parent / f"tables/table_{stem}.md").read_text()
    assert "snip: natural" in table and "(-5.0)" in table
    assert "Criteria: Fashion-MNIST · dense-300-100 · PGD" in index.read_text()
