"""`robust-tickets study`: the statistics against hand computations, and the whole command on
tiny real runs (Fashion-MNIST, a few steps, 100 test images, cheap attacks): worst case per
image, cells, paired tests, the figure, and recomputation from the per-image file alone."""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pytest
from tests.conftest import one_line_error, small_config

from robust_tickets.cli.main import main
from robust_tickets.evaluation.store import RobustnessDir
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.report.study import per_image, run_study, stats
from robust_tickets.report.study.analysis import LEVEL0, Study
from robust_tickets.report.study.networks import method_label, setting_label
from robust_tickets.report.study.output import _pct, figure
from robust_tickets.store import find_experiments

N = 100
EVAL = ["--eps", "0,0.1", "--n-examples", str(N), "--pgd-steps", "3", "--no-checks", "-q"]


# ---- statistics ---------------------------------------------------------------------------
def test_exact_mcnemar_matches_a_hand_computation():
    # 1 image robust only under A, 9 only under B: P(X >= 9 | 10, 1/2) = (10 + 1) / 2^10, twice
    assert stats.mcnemar(1, 9) == pytest.approx(22 / 1024, rel=1e-12)
    assert stats.mcnemar(9, 1) == stats.mcnemar(1, 9)
    assert stats.mcnemar(0, 5) == pytest.approx(2 / 32, rel=1e-12)
    assert stats.mcnemar(0, 0) == 1.0 and stats.mcnemar(4, 4) == 1.0
    # 30 against 0 on 1,000 images: 2 / 2^30
    assert stats.mcnemar(30, 0) == pytest.approx(2 / 2**30, rel=1e-9)


def test_wilson_interval_known_values_and_contains_the_point():
    # Wilson (1927) / Newcombe (1998): 5 of 10 -> [0.2366, 0.7634], 0 of 10 -> [0, 0.2775]
    assert stats.wilson(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert stats.wilson(0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    assert stats.wilson(10, 10)[1] == 1.0
    for k, n in ((0, 7), (3, 7), (7, 7), (451, 1000), (1, 2000)):
        low, high = stats.wilson(k, n)
        assert 0 <= low <= k / n <= high <= 1


def test_t_distribution_quantiles_and_paired_tests():
    for df, t in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423)):
        assert stats.t_quantile(df) == pytest.approx(t, abs=1e-4)
    # differences 1, 2, 3: t = 2 / (1 / sqrt 3), df 2, p = 1 - 2 * atan-series = 0.074180
    t, p = stats.paired_t([1.0, 2.0, 3.0])
    assert t == pytest.approx(2 * math.sqrt(3)) and p == pytest.approx(0.0741799, abs=1e-6)
    # no spread: the t-test has nothing to test against, so no p (not p = 0 from 2 seeds)
    t, p = stats.paired_t([0.01, 0.01])
    assert t == math.inf and math.isnan(p)
    assert stats.paired_t([0.0, 0.0]) == (0.0, 1.0)
    _, low, high = stats.t_interval([0.4, 0.5, 0.6])
    assert (low, high) == pytest.approx((0.5 - 4.302653 * 0.1 / math.sqrt(3), 0.5 + 0.248414))
    assert stats.sign_flip([0.1, 0.2, 0.3]) == 0.25  # 2 of 2^3 sign vectors reach it
    assert stats.sign_flip([0.1, -0.1]) == 1.0
    assert stats.holm([0.01, 0.04, 0.03, math.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    # Welch from summaries: equal n and sd is Student's pooled test, df 2(n-1); a difference of
    # t_{0.975, 8} standard errors has p 0.05
    se = math.sqrt(2 * 0.5**2 / 5)
    t, df, p = stats.welch_summary(1.0 + stats.t_quantile(8) * se, 0.5, 5, 1.0, 0.5, 5)
    assert df == pytest.approx(8) and p == pytest.approx(0.05, abs=1e-9)
    # unequal spreads: df = (0.2 + 0.002)^2 / (0.2^2 / 4 + 0.002^2 / 4) = 4.04, p from df 4
    t, df, p = stats.welch_summary(1.0, 1.0, 5, 0.0, 0.1, 5)
    assert df == pytest.approx(0.202**2 / ((0.04 + 4e-6) / 4))
    assert p == pytest.approx(1 - stats.t_inside(1 / math.sqrt(0.202), 4))
    assert all(math.isnan(v) for v in stats.welch_summary(1.0, 0.5, 1, 0.0, 0.5, 5))


# ---- the command on tiny real runs --------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion):
    """Magnitude and random IMP (reset), and a dense run, 2 trials each, evaluated with FGSM and
    PGD at eps 0.1 (and clean) on 100 test images."""
    root = tmp_path_factory.mktemp("study")
    options = RunOptions(output=root, quiet=True, trials=2)
    base = {"train_iters": 30, "eval_every": 30, "prune_iters": 1, "valid_size": 1000}
    for extra in ({}, {"criterion": "random"}, {"strategy": "dense"}):
        run_experiment(small_config(**base, **extra), options, splits=fashion)
    assert main(["evaluate", str(root), "--attacks", "fgsm,pgd", *EVAL]) == 0
    return root


def _read(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def studied(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    argv = ["study", str(store), "--out", str(out), "--eps", "0.1", "--attacks", "fgsm,pgd"]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize("a,b", [(1, 1), (2, 2), (2, 5), (7, 3), (12, 12)])
def test_incomplete_beta_is_the_binomial_tail_for_whole_parameters(a, b):
    n = a + b - 1  # I_x(a, b) = P(Binomial(a + b - 1, x) >= a)
    for x in (0.01, 0.2, 0.5, 0.77, 0.99):
        tail = sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))
        assert stats.beta_regularized(x, a, b) == pytest.approx(tail, abs=1e-12)


def test_incomplete_beta_and_the_f_test_against_closed_forms():
    for x in (0.001, 0.3, 0.5, 0.9):  # the arcsine law: I_x(1/2, 1/2) = (2/pi) asin(sqrt x)
        expected = 2 / math.pi * math.asin(math.sqrt(x))
        assert stats.beta_regularized(x, 0.5, 0.5) == pytest.approx(expected, abs=1e-12)
    # F(1, df) is T(df) squared: P(F <= t^2) = P(|T| < t)
    for df in (1, 3, 4, 9):
        for t in (0.5, 1.7, 3.0):
            inside = stats.beta_regularized(t * t / (t * t + df), 0.5, df / 2)
            assert inside == pytest.approx(stats.t_inside(t, df), abs=1e-10)
    # F(4, 4)'s 95% quantile is 6.3882 (tables): a std ratio of its root has two-sided p 0.10
    f, p = stats.variance_ratio(math.sqrt(6.3882), 5, 1.0, 5)
    assert f == pytest.approx(6.3882) and p == pytest.approx(0.10, abs=2e-5)
    assert stats.variance_ratio(1.0, 5, math.sqrt(6.3882), 5)[1] == pytest.approx(p)
    assert stats.variance_ratio(0.7, 5, 0.7, 5) == (1.0, 1.0)
    assert math.isnan(stats.variance_ratio(1.0, 1, 1.0, 5)[1])
    assert math.isnan(stats.variance_ratio(0.0, 5, 1.0, 5)[1])
    with pytest.raises(ValueError):
        stats.beta_regularized(1.5, 1, 1)


def test_worst_case_is_each_images_worst_and_cells_are_their_means(store, studied):
    collected, attacks = per_image.load(studied / "per_image.npz")
    assert attacks == ("fgsm", "pgd") and len(collected.networks) == 10  # 2x2x2 + 2 dense
    for net in collected.networks:
        level = store / net.experiment / f"trial_{net.trial}" / f"level_{net.level:02d}"
        entries = {
            (e.attack, e.eps): e.robust.numpy()
            for e in RobustnessDir(level / "robustness").load().values()
        }
        fgsm, pgd = entries[("fgsm", 0.1)], entries[("pgd", 0.1)]
        assert net.n == N and np.array_equal(net.worst, fgsm & pgd)
        assert net.worst.sum() <= min(fgsm.sum(), pgd.sum())
        assert np.array_equal(net.clean, entries[("fgsm", 0.0)])
        assert not (net.worst & ~net.clean).any()
    networks = _read(studied / "networks.csv")
    for cell in _read(studied / "cells.csv"):
        mine = [
            float(r["acc"])
            for r in networks
            if (r["setting"], r["method"], r["remaining"])
            == (cell["setting"], cell["method"], cell["remaining"])
        ]
        assert int(cell["seeds"]) == len(mine) == 2
        assert float(cell["mean"]) == pytest.approx(sum(mine) / 2)
        assert float(cell["low"]) <= float(cell["mean"]) <= float(cell["high"])
        assert cell["interval"] == "t"
    for r in networks:
        assert float(r["wilson_low"]) <= float(r["acc"]) <= float(r["wilson_high"])


def test_paired_tests_are_mcnemar_on_the_same_images(studied):
    collected, _ = per_image.load(studied / "per_image.npz")
    by = {(n.method, n.seed, n.level, n.experiment): n for n in collected.networks}
    tests = _read(studied / "tests.csv")
    assert {t["comparison"] for t in tests} == {"vs-dense", "methods"}
    mine = [t for t in tests if t["test"] == "mcnemar-exact" and t["comparison"] == "vs-dense"]
    assert len(mine) == 4  # 2 methods x 1 sparse level x 2 seeds
    for t in mine:
        ticket = next(n for (m, s, lv, _), n in by.items() if (m, s, lv) == (t["a"], t["seed"], 1))
        dense = next(
            n for n in collected.networks if (n.experiment, n.trial, n.level) == (
                ticket.experiment, ticket.trial, 0)
        )  # fmt: skip
        a_only, b_only = (
            int((ticket.worst & ~dense.worst).sum()),
            int((~ticket.worst & dense.worst).sum()),
        )
        assert (int(t["a_only"]), int(t["b_only"])) == (a_only, b_only)
        assert float(t["p"]) == pytest.approx(stats.mcnemar(a_only, b_only))
        assert float(t["p"]) <= float(t["p_holm"]) <= 1
    between = [t for t in tests if t["comparison"] == "methods"]
    assert {(t["a"], t["b"]) for t in between} == {("magnitude/reset", "random/reset")}
    seeds = [t for t in tests if t["test"] == "paired-t"]
    assert seeds and all(t["seeds"] == "2" and t["df"] == "1" for t in seeds)
    assert all(float(t["p_signflip"]) >= 0.5 for t in seeds)  # 2 seeds: 2 / 4 at best


def test_recomputed_from_the_per_image_file_alone_is_identical(studied, tmp_path):
    out = tmp_path / "again"
    assert (
        main(["study", "--from-per-image", str(studied / "per_image.npz"), "--out", str(out)]) == 0
    )
    for name in ("cells.csv", "networks.csv", "tests.csv", "table.md", "per_image.npz"):
        assert (out / name).read_bytes() == (studied / name).read_bytes(), name


def test_studies_of_some_seeds_merge_into_the_study_of_all(store, studied, tmp_path, capsys):
    """A study per seed (one a session, each store lost with its machine) merged from the
    per-image files, or a file plus a store, is the study of every seed at once; a network in
    two files must agree, and files of other attacks or images do not mix."""
    base = ["study", str(store), "--eps", "0.1", "--attacks", "fgsm,pgd"]
    for trial in (0, 1):
        assert main([*base, "--trials", str(trial), "--out", str(tmp_path / f"t{trial}")]) == 0
    t0, t1 = tmp_path / "t0" / "per_image.npz", tmp_path / "t1" / "per_image.npz"
    files = ["--from-per-image", str(t0), "--from-per-image", str(t1)]
    assert main(["study", *files, "--from-per-image", str(t1), "--out", str(tmp_path / "m")]) == 0
    mixed = ["study", "--from-per-image", str(t0), str(store), "--eps", "0.1", "--trials", "1"]
    assert main([*mixed, "--out", str(tmp_path / "s")]) == 0
    for name in ("cells.csv", "networks.csv", "tests.csv", "table.md", "per_image.npz"):
        for out in ("m", "s"):
            assert (tmp_path / out / name).read_bytes() == (studied / name).read_bytes(), name
    collected, attacks = per_image.load(t1)
    collected.networks[0].worst = ~collected.networks[0].worst
    per_image.save(tmp_path / "flipped.npz", collected, attacks)
    fewer = ["study", *base[1:], "--n", "50", "--out", str(tmp_path / "n50")]
    assert main(fewer) == 0
    other = [
        "study",
        str(store),
        "--eps",
        "0.1",
        "--attacks",
        "fgsm",
        "--out",
        str(tmp_path / "fgsm"),
    ]
    assert main(other) == 0
    for extra, needle in (
        (tmp_path / "flipped.npz", "other per-image results"),
        (tmp_path / "n50" / "per_image.npz", "same images"),
        (tmp_path / "fgsm" / "per_image.npz", "same attacks"),
    ):
        capsys.readouterr()
        argv = ["study", "--from-per-image", str(t1), "--from-per-image", str(extra)]
        assert main([*argv, "--out", str(tmp_path / "bad")]) == 2
        one_line_error(capsys, needle)
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        (291 / 2000, "", "14.6"),  # 14.55% exactly: binary floats would print 14.5
        (1217 / 2000, "", "60.9"),
        (0.12344, "", "12.3"),
        (53 / 2000, "+", "+2.7"),
        (-53 / 2000, "+", "-2.7"),
        (1 / 2000, "+", "+0.1"),
        (-0.0002, "+", "+0.0"),  # a difference that rounds to nothing has no sign
        (-0.0002, "", "0.0"),
        (float("nan"), "", "—"),
    ],
)
def test_percentages_round_exact_ties_up_as_the_counts_say(value, sign, text):
    assert _pct(value, sign) == text


def test_figure_per_setting_and_table(studied):
    collected, _ = per_image.load(studied / "per_image.npz")
    settings = {n.setting for n in collected.networks}
    assert settings == {"fashion_mnist-dense-300-100-fgsm-eps0.3-nat"}
    for setting in settings:
        png = (studied / f"{setting}.png").read_bytes()
        assert len(png) > 1000 and png[:8] == b"\x89PNG\r\n\x1a\n"
    table = (studied / "table.md").read_text()
    assert "magnitude/reset" in table and "random/reset" in table and "Dense network" in table
    # the reference band is level 0; the run that never prunes is drawn beside it, once
    study = Study(collected.networks, LEVEL0)
    (setting,) = settings
    legend = [t.get_text() for t in figure(study, setting).axes[0].get_legend().get_texts()]
    assert legend.count("dense: a run that never prunes") == 1
    assert sum(t.startswith("dense (level 0 of") for t in legend) == 1
    assert {"magnitude/reset", "random/reset"} <= set(legend)
    rewind = {"strategy": "rewind", "rewind_iter": 500, "criterion": "magnitude"}
    assert method_label({**rewind, "one_shot": False, "prune_method": "layerwise"}) == (
        "magnitude/rewind@500"
    )
    cnn = {"dataset": "mnist", "model": "mnist-cnn", "attack": "pgd", "eps": 0.3}
    assert setting_label({**cnn, "adv_train": True}) == "mnist-mnist-cnn-pgd-eps0.3-adv"


def test_a_setting_with_no_pruned_network_gets_no_figure(store, tmp_path, capsys):
    """A dense-only pilot: the table and per-image file, but no sparsity axis with nothing on
    it; the command says why there is no figure."""
    (dense,) = [d for d in store.iterdir() if re.search(r"-dense-[0-9a-f]{10}$", d.name)]
    out = tmp_path / "pilot"
    argv = ["study", str(dense), "--out", str(out), "--eps", "0.1", "--attacks", "fgsm,pgd"]
    assert main(argv) == 0
    assert not list(out.glob("*.png"))
    assert (out / "table.md").exists() and (out / "per_image.npz").exists()
    assert "no pruned network, so no figure" in capsys.readouterr().err


def test_a_dense_run_chosen_by_name_is_the_reference(store, tmp_path):
    out = tmp_path / "dense"
    argv = ["study", str(store), "--out", str(out), "--eps", "0.1", "--attacks", "fgsm,pgd"]
    assert main([*argv, "--dense", "dense"]) == 0
    collected, _ = per_image.load(out / "per_image.npz")
    dense = {n.seed: n for n in collected.networks if n.method == "dense"}
    tests = [t for t in _read(out / "tests.csv") if t["comparison"] == "vs-dense"]
    assert tests and all(t["b"] == "dense" for t in tests)
    for t in (t for t in tests if t["test"] == "mcnemar-exact"):
        ticket = next(
            n for n in collected.networks if (n.method, n.seed, n.level) == (t["a"], t["seed"], 1)
        )
        d = dense[t["seed"]]
        assert int(t["a_only"]) == int((ticket.worst & ~d.worst).sum())
    assert "Dense network (dense)" in (out / "table.md").read_text()


def test_trials_restricts_the_study_to_those_seeds(store, tmp_path, capsys):
    """`--trials 1`: every network of trial 1 and none of trial 0 (a study published while
    later seeds are still running); a trial with nothing evaluated is a one-line error."""
    out = tmp_path / "t1"
    argv = ["study", str(store), "--out", str(out), "--eps", "0.1", "--attacks", "fgsm,pgd"]
    assert main([*argv, "--trials", "1"]) == 0
    collected, _ = per_image.load(out / "per_image.npz")
    assert {net.trial for net in collected.networks} == {1} and len(collected.networks) == 5
    assert {int(c["seeds"]) for c in _read(out / "cells.csv")} == {1}
    other = [*argv[:2], "--eps", "0.1", "--attacks", "fgsm,pgd", "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert main([*other, "--trials", "7"]) == 2
    one_line_error(capsys, "trials 7")
    with pytest.raises(SystemExit) as stopped:  # argparse's usage error: one line, exit 2
        main([*other, "--trials", "a"])
    assert stopped.value.code == 2
    one_line_error(capsys, "trial numbers")


def test_missing_attack_is_one_line_or_left_out_and_listed(store, tmp_path, capsys):
    argv = ["study", str(store), "--out", str(tmp_path / "x"), "--eps", "0.1"]
    capsys.readouterr()
    assert main([*argv, "--attacks", "fgsm,fgsm-rs"]) == 2
    one_line_error(capsys, "fgsm-rs", "--exclude-incomplete", "robust-tickets evaluate")
    assert not (tmp_path / "x").exists()
    # one experiment gains fgsm-rs: the others are left out and listed
    magnitude = next(
        e.path
        for e in find_experiments(store)
        if method_label(e.config().flat()) == "magnitude/reset"
    )
    assert main(["evaluate", str(magnitude), "--attacks", "fgsm-rs", *EVAL]) == 0
    capsys.readouterr()
    assert main([*argv, "--attacks", "fgsm,fgsm-rs", "--exclude-incomplete"]) == 0
    err = capsys.readouterr().err
    assert err.count("left out:") == 6  # random (2 trials x 2 levels) and dense (2)
    collected, _ = per_image.load(tmp_path / "x" / "per_image.npz")
    assert {n.method for n in collected.networks} == {"magnitude/reset"}
    assert len(collected.excluded) == 6
    assert "Networks left out" in (tmp_path / "x" / "table.md").read_text()


def test_a_masking_warning_is_said_and_counted(store, tmp_path, capsys):
    level = next(store.glob("*/trial_0/level_01"))
    checks = RobustnessDir(level / "robustness")
    report = {"flag": "warn", "eps": 0.1, "n": N, "checks": [{"check": "square-vs-ce",
              "flag": "warn", "detail": "made up"}], "trial": 0, "level": 1}  # fmt: skip
    checks.write_checks(report)
    try:
        capsys.readouterr()
        argv = ["study", str(store), "--out", str(tmp_path / "m"), "--eps", "0.1"]
        assert main([*argv, "--attacks", "fgsm,pgd"]) == 0
        err = capsys.readouterr().err
        assert "warning: masking checks warned for 1 of 2 networks" in err
        assert "square-vs-ce" in err
        cells = _read(tmp_path / "m" / "cells.csv")
        assert sum(int(c["masking_warned"]) for c in cells) == 1
        assert "⚠" in (tmp_path / "m" / "table.md").read_text()
    finally:
        checks.checks.unlink()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--attacks", "nope"], "unknown attack"),
        (["--attacks", "fgsm,paper"], "not a robustness measure"),
        (["--dense", "nope"], "no such method"),
        (["--n", "100000"], "robust-tickets evaluate"),
    ],
)
def test_bad_input_is_one_line(store, tmp_path, capsys, extra, needle):
    capsys.readouterr()
    argv = ["study", str(store), "--out", str(tmp_path / "b"), "--eps", "0.1"]
    assert main([*argv, "--attacks", "fgsm,pgd", *extra]) == 2
    one_line_error(capsys, needle)


def test_bad_per_image_and_argument_mixes_are_one_line(store, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    for argv, needle in (
        (["--from-per-image", str(bad)], "not a study's per-image file"),
        (["--from-per-image", str(tmp_path / "none.npz")], "does not exist"),
        (["--from-per-image", str(bad), "--trials", "0"], "choose what is read from a STORE"),
        (["--from-per-image", str(bad), "--n", "5"], "fixed by the per-image file"),
        ([], "at least one STORE"),
        ([str(tmp_path / "nowhere")], "does not exist"),
    ):
        capsys.readouterr()
        assert main(["study", "--out", str(tmp_path / "o"), *argv]) == 2
        one_line_error(capsys, needle)


def test_an_attack_run_with_other_parameters_on_some_network_is_a_warning(studied, tmp_path):
    collected, attacks = per_image.load(studied / "per_image.npz")
    collected.networks[0].attacks["pgd"] = "step=0.1,steps=99"
    per_image.save(tmp_path / "mixed.npz", collected, attacks)
    said: list[str] = []
    run_study(tmp_path / "out", from_per_image=[tmp_path / "mixed.npz"], say=said.append)
    assert any(line.startswith("warning: pgd ran with different parameters") for line in said)
    assert "steps=99" in (tmp_path / "out" / "table.md").read_text()
