"""RobustBench model-info entries: RobustBench's fields, the ticket's sparsity and threat model,
and a protocol that says plainly when the numbers were not measured as the leaderboard's are."""

from __future__ import annotations

import json

from tests.conftest import one_line_error, small_config

from robust_tickets.cli.main import main
from robust_tickets.evaluation import robustbench
from robust_tickets.evaluation.attacks import preset
from robust_tickets.evaluation.store import RobustnessDir
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.resolve import from_flat

# the fields of RobustBench's model_info/<dataset>/<threat>/<name>.json files
FIELDS = {
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "unreliable",
    "footnote",
}


def _entry(config, **overrides):
    args = dict(
        name="run/trial_0/level_03",
        remaining=51.2,
        clean=0.8123,
        robust=0.4456,
        n=10_000,
        test_size=10_000,
        strength=preset("autoattack").params,
        params="apgd_steps=100,fab_steps=100,impl=pyautoattack-0.2.0,queries=5000",
    )
    return robustbench.entry(config, **{**args, **overrides})


def test_an_entry_measured_as_the_leaderboard_measures_is_marked_so():
    config = from_flat({"dataset": "cifar10", "model": "resnet20", "adv_train": True})
    entry = _entry(config)
    assert set(entry) >= FIELDS
    assert entry["eps"] == "8/255" and entry["dataset"] == "cifar10"
    assert (entry["clean_acc"], entry["autoattack_acc"]) == ("81.23", "44.56")
    assert entry["architecture"] == "resnet20" and entry["number_forward_passes"] == 1
    assert (entry["remaining_weights"], entry["sparsity"]) == ("51.20", "48.80")
    assert entry["threat_model"] == "Linf" and "48.80%" in entry["footnote"]
    assert entry["protocol"]["robustbench"] and entry["protocol"]["problems"] == []
    assert "NOT" not in entry["footnote"]
    json.dumps(entry)  # plain JSON


def test_a_subset_a_lighter_attack_or_another_eps_is_never_a_leaderboard_number():
    config = from_flat({"dataset": "cifar10", "eps": 4 / 255})
    entry = _entry(config, n=500, strength=preset("autoattack", {"apgd_steps": 10}).params)
    problems = entry["protocol"]["problems"]
    assert not entry["protocol"]["robustbench"] and len(problems) == 3
    assert "eps 4/255, not the leaderboard's 8/255" in problems
    assert "the first 500 of the 10000 test images, not all of them" in problems
    assert any("apgd_steps 10 (standard 100)" in p for p in problems)
    assert "NOT RobustBench's protocol" in entry["footnote"]
    mnist = _entry(from_flat({"dataset": "mnist"}))
    assert mnist["protocol"]["problems"] == ["RobustBench keeps no Linf leaderboard for mnist"]
    assert mnist["eps"] == "0.3"


def test_evaluate_writes_entries_and_one_beside_a_level_only_when_the_protocol_matches(
    tmp_path, mnist, capsys, monkeypatch
):
    config = small_config(
        dataset="mnist", train_iters=12, eval_every=12, prune_iters=1, test_size=100
    )
    runs = tmp_path / "runs"
    exp, _ = run_experiment(config, RunOptions(output=runs, quiet=True), splits=mnist)
    out = tmp_path / "entries"
    argv = ["evaluate", str(runs), "--attacks", "autoattack", "--eps", "0.3", "--no-checks"]
    argv += ["--n-examples", "30", "--apgd-steps", "2", "--fab-steps", "2", "-q"]
    argv += ["--square-queries", "10", "--robustbench-entry", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("RobustBench entry") == 2 and "not its protocol" in printed
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == [
        f"{exp.path.name}-trial_0-level_00.json",
        f"{exp.path.name}-trial_0-level_01.json",
    ]
    entry = json.loads(files[1].read_text())
    assert set(entry) >= FIELDS and entry["protocol"]["n_examples"] == 30
    assert not entry["protocol"]["robustbench"]
    assert any("the first 30 of the 10000" in p for p in entry["protocol"]["problems"])
    assert 0 < float(entry["remaining_weights"]) < 100
    level = exp.trial(0).level(1)
    assert not RobustnessDir.of(level).robustbench.exists()  # not the leaderboard's protocol
    # measured as the leaderboard measures (faked here: a full AutoAttack on the whole test set
    # takes hours on a CPU), the entry is also written beside the level's results
    monkeypatch.setattr(robustbench, "protocol_problems", lambda *args: [])
    assert main(argv) == 0
    beside = json.loads(RobustnessDir.of(level).robustbench.read_text())
    assert beside["protocol"]["robustbench"] and beside["autoattack_acc"] == entry["autoattack_acc"]
    # an entry needs AutoAttack at the training eps
    capsys.readouterr()
    assert main([*argv[:3], "fgsm", *argv[4:]]) == 2
    one_line_error(capsys, "--robustbench-entry needs autoattack")
    assert main([*argv[:5], "0.1", *argv[6:]]) == 2
    one_line_error(capsys, "training eps 0.3")
