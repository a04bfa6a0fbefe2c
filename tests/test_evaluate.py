"""Strong-attack evaluation: library cross-check, worst-case bookkeeping, masking checks, store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import small_config
from torch import nn

from robust_tickets.cli.main import main
from robust_tickets.data import Split
from robust_tickets.evaluation import EVAL_ATTACKS, AttackContext, presets, worst_case
from robust_tickets.evaluation.checks import needed
from robust_tickets.evaluation.robustness import robust_examples
from robust_tickets.evaluation.runner import Task, evaluate_model, model_checks
from robust_tickets.evaluation.store import RobustnessDir, table_rows
from robust_tickets.evaluation.summary import SHORT
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.report.robustness_curves import (
    masking_table,
    robustness_curves,
    strong_vs_remaining,
)
from robust_tickets.results import iter_rows

SETTINGS = {"pgd_steps": 20, "pgd_restarts": 2, "square_queries": 300}  # the attacks' (flags)
BATCH = 500


def _train(splits, seed: int, steps: int = 200) -> nn.Module:
    model = create_model("dense-300-100", (1, 28, 28), 10, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(splits.train), (100,), generator=generator)
        loss = F.cross_entropy(model(splits.train.x[index]), splits.train.y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


class Quantised(nn.Module):
    """The same network behind a hard rounding of its input: gradients are exactly zero, so
    gradient attacks see nothing, yet the function barely changes (textbook gradient masking)."""

    def __init__(self, net: nn.Module, levels: int = 8) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * self.levels) / self.levels)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and much faster on a shared, loaded CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(fashion):
    return _train(fashion, seed=1), _train(fashion, seed=2, steps=150)


def _test(fashion, n: int) -> Split:
    return Split(fashion.test.x[:n], fashion.test.y[:n])


def _run(model, name, eps, test, ctx, settings=None, seed=7):
    fn = presets(settings)[name].build(model, eps, ctx)
    return robust_examples(model, test.x, test.y, eps, fn, lambda start: seed + start)


@pytest.mark.parametrize("eps", [0.1])
def test_project_attacks_match_torchattacks_on_same_random_start(fashion, trained, eps):
    pytest.importorskip("torchattacks", reason="torchattacks is an optional cross-check")
    model, _ = trained
    test = _test(fashion, 1000)
    ctx = AttackContext(10)
    clean = robust_examples(model, test.x, test.y, 0.0, None, lambda s: 0)
    for ours, theirs in (("fgsm", "ta-fgsm"), ("pgd", "ta-pgd")):
        a, b = _run(model, ours, eps, test, ctx), _run(model, theirs, eps, test, ctx)
        assert a.sum() < clean.sum()  # the attack does something
        assert abs(int(a.sum()) - int(b.sum())) <= 1  # one example per thousand
        assert int((a != b).sum()) <= 2


@pytest.mark.parametrize("name", EVAL_ATTACKS.names())
def test_every_registered_attack_fools_a_natural_model_within_the_ball(fashion, trained, name):
    if EVAL_ATTACKS.get(name).library:
        pytest.importorskip("torchattacks", reason="torchattacks is an optional cross-check")
    model, surrogate = trained
    test = _test(fashion, 64)
    quick = dict(pgd_steps=10, pgd_restarts=1, apgd_steps=5, fab_steps=5, square_queries=50)
    ctx = AttackContext(10, surrogate=surrogate)
    fn = presets(quick)[name].build(model, 0.2, ctx)
    x_adv = fn(test.x, test.y, 3)
    assert x_adv.shape == test.x.shape
    assert (x_adv - test.x).abs().max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    clean = robust_examples(model, test.x, test.y, 0.0, None, lambda s: 0)
    robust = _run(model, name, 0.2, test, ctx, quick)
    assert not (robust & ~clean).any() and robust.sum() < clean.sum()


@pytest.mark.parametrize("name", EVAL_ATTACKS.names())
def test_every_preset_is_an_attack_that_leaves_the_model_as_it_was(fashion, trained, name):
    """The `Attack` base: mode restored, no parameter gradient (not even from a library's
    backward passes, FAB's for one), results in [0, 1] whatever the attack returned."""
    if EVAL_ATTACKS.get(name).library:
        pytest.importorskip("torchattacks", reason="torchattacks is an optional cross-check")
    model, surrogate = trained
    test = _test(fashion, 32)
    quick = dict(pgd_steps=3, pgd_restarts=2, apgd_steps=3, fab_steps=3, square_queries=20)
    ctx = AttackContext(10, surrogate=surrogate)
    attack = presets(quick)[name].make(0.2, ctx)
    model.zero_grad(set_to_none=True)  # training left its last gradients
    for training in (True, False):
        model.train(training)
        x_adv = attack(model, test.x, test.y, torch.Generator().manual_seed(4))
        assert model.training is training and surrogate.training is False
        assert all(p.grad is None and p.requires_grad for p in model.parameters())
        assert x_adv.shape == test.x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    model.eval()


def test_attacked_points_stay_in_the_ball_and_worst_case_is_per_example(fashion, trained):
    model, _ = trained
    test = _test(fashion, 300)
    clean = robust_examples(model, test.x, test.y, 0.0, None, lambda s: 0)

    def cheat(x, y, seed):  # "succeeds" by returning another image entirely
        return torch.flip(x, dims=(0,))

    cheated = robust_examples(model, test.x, test.y, 0.01, cheat, lambda s: 0)
    assert int(cheated.sum()) >= int(clean.sum()) - 10  # projected back into a tiny ball
    assert not (cheated & ~clean).any()  # misclassified clean is never robust

    ctx = AttackContext(10)
    entries = evaluate_model(
        model,
        test,
        [Task(a, e, "curve") for e in (0.0, 0.1) for a in ("fgsm", "pgd-restarts")],
        ctx,
        lambda group, eps, start: 11 + start,
        chosen=presets(SETTINGS),
        batch_size=BATCH,
    )
    rows = table_rows(entries)
    worst = {r["eps"]: r for r in rows if r["attack"] == "worst-case"}
    per = {(e.attack, e.eps): e.robust for e in entries.values()}
    both = per[("fgsm", 0.1)] & per[("pgd-restarts", 0.1)]
    assert worst[0.1]["correct"] == int(both.sum())
    assert worst[0.0]["correct"] == int(clean.sum())
    assert torch.equal(worst_case([per[("fgsm", 0.1)], per[("pgd-restarts", 0.1)]]), both)
    # restarts run on the survivors only, yet one restart never beats five on any example
    single = _run(
        model,
        "pgd-restarts",
        0.1,
        test,
        AttackContext(10),
        {"pgd_steps": 20, "pgd_restarts": 1},
        seed=11,
    )
    assert not (per[("pgd-restarts", 0.1)] & ~single).any()


def _checks(model, surrogate, test):
    ctx, chosen = AttackContext(10, surrogate=surrogate), presets(SETTINGS)
    tasks = [Task(a, e, "curve") for e in (0.0, 0.05, 0.1) for a in ("fgsm", "pgd")]
    tasks += [Task(a, e, "check") for a, e in needed(0.1, with_surrogate=True)]
    seed = lambda g, e, s: 5 + s  # noqa: E731
    entries = evaluate_model(model, test, tasks, ctx, seed, chosen=chosen, batch_size=BATCH)
    report = model_checks(entries, ctx, len(test), 0.1, chosen=chosen)
    return report, {c["check"]: c["flag"] for c in report["checks"]}


def test_masking_checks_flag_a_quantised_model_and_pass_a_normal_one(fashion, trained):
    model, surrogate = trained
    test = _test(fashion, 200)
    report, flags = _checks(model, surrogate, test)
    assert report["flag"] == "pass", report["checks"]
    from robust_tickets.evaluation import library

    assert flags.pop("library") == ("pass" if library.available() else "skip")
    assert set(flags.values()) == {"pass"}
    masked_report, masked = _checks(Quantised(model), surrogate, test)
    assert masked_report["flag"] == "warn"
    assert masked["black-box"] == "warn" and masked["transfer"] == "warn", masked_report


def test_evaluate_writes_beside_the_run_resumes_and_shows_in_results(tmp_path, fashion, capsys):
    config = small_config(train_iters=40, eval_every=40, prune_iters=1)
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=fashion)
    metrics = {p: p.read_bytes() for p in exp.path.rglob("metrics.csv")}
    argv = [
        "evaluate",
        str(tmp_path),
        "--attacks",
        "fgsm,autoattack",
        "--eps",
        "0,0.3",
        "--n-examples",
        "60",
        "--apgd-steps",
        "4",
        "--fab-steps",
        "4",
        "--square-queries",
        "30",
        "--pgd-steps",
        "5",
        "--pgd-restarts",
        "1",
        "-q",
    ]
    capsys.readouterr()
    assert main(argv) == 0
    _check_printed_results(*capsys.readouterr(), exp, n=60, eps=0.3)
    store = RobustnessDir.of(exp.trial(0).level(1))
    first = store.load()
    assert main(argv) == 0  # resumed: nothing recomputed
    assert {k: e.seconds for k, e in store.load().items()} == {
        k: e.seconds for k, e in first.items()
    }
    assert {p: p.read_bytes() for p in exp.path.rglob("metrics.csv")} == metrics
    capsys.readouterr()
    assert main(["results", str(tmp_path), "--json", "--eval"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r for r in rows if r["split"] in ("valid", "test")] == list(iter_rows(tmp_path))
    robust = [r for r in rows if r["split"] == "robustness" and r["eval_eps"] == 0.3]
    by = {(r["level"], r["eval_attack"]): r for r in robust if r["role"] == "curve"}
    for level in (0, 1):
        assert by[(level, "worst-case")]["acc"] <= min(
            by[(level, a)]["acc"] for a in ("fgsm", "autoattack")
        )
        assert by[(level, "worst-case")]["n_examples"] == 60
    checks = [r for r in rows if r["split"] == "masking-check"]
    assert {r["check"] for r in checks} >= {"monotone", "unbounded", "black-box", "transfer"}
    assert all(r["flag"] in ("pass", "warn", "skip") for r in checks)
    assert robustness_curves(rows) is not None and strong_vs_remaining(rows) is not None
    assert [(m["level"], m["overall"] in ("pass", "warn")) for m in masking_table(rows)] == [
        (0, True),
        (1, True),
    ]
    assert main(["evaluate", str(tmp_path), "--attacks", "nope"]) == 2
    # the report gains the strong-attack section with its figures and the checks' table
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="robustness"' in page and "Gradient-masking checks" in page
    assert (tmp_path / "report" / "figures" / "fig6_robustness_curves.png").stat().st_size > 0
    assert (tmp_path / "report" / "tables" / "masking_checks.csv").read_text().count("\n") == 3


# ---- AutoAttack from its canonical implementation (pyautoattack) ----------------------------
def test_autoattack_is_pyautoattacks_standard_version_and_named_by_it():
    from robust_tickets.evaluation import autoattack

    model = create_model("dense-300-100", (1, 28, 28), 10, seed=0)
    aa = autoattack.standard(model, 0.1, num_classes=10)
    assert type(aa).__module__.startswith("pyautoattack")
    assert aa.attacks_to_run == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert (aa.apgd.n_iter, aa.apgd.n_restarts, aa.apgd_targeted.n_target_classes) == (100, 1, 9)
    assert (aa.fab.n_target_classes, aa.square.n_queries) == (9, 5000)
    lighter = autoattack.standard(model, 0.1, num_classes=4, apgd_steps=7)
    assert lighter.apgd_targeted.n_iter == 7 and lighter.apgd_targeted.n_iter_2 == 1
    assert lighter.fab.n_target_classes == 3  # every other class when there are fewer than 10
    for name in ("autoattack", "apgd-ce", "apgd-t", "fab-t", "square"):
        params = EVAL_ATTACKS.get(name).param_string(AttackContext(10))
        assert f"impl={autoattack.implementation()}" in params, name
    assert autoattack.implementation().startswith("pyautoattack-0.")


def test_the_implementation_version_without_package_metadata_is_the_modules(monkeypatch):
    """pyautoattack's files copied without pip (a GPU machine that cannot reach PyPI) ran the
    same code: its version is read off the module, not recorded as missing."""
    import pyautoattack

    from robust_tickets.evaluation import autoattack

    installed = autoattack.implementation()

    def no_metadata(name: str) -> str:
        raise autoattack.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(autoattack.metadata, "version", no_metadata)
    assert autoattack.implementation() == installed == f"pyautoattack-{pyautoattack.__version__}"
    monkeypatch.delattr(pyautoattack, "__version__")
    assert autoattack.implementation() == "pyautoattack-missing"


def test_autoattack_is_the_per_example_worst_case_of_its_first_attack(fashion, trained):
    model, _ = trained
    test = _test(fashion, 100)
    quick = {"apgd_steps": 10, "fab_steps": 5, "square_queries": 40}
    ctx = AttackContext(10)
    aa = _run(model, "autoattack", 0.1, test, ctx, quick)
    ce = _run(model, "apgd-ce", 0.1, test, ctx, quick)
    assert not (aa & ~ce).any()  # APGD-CE runs first, same seed: AutoAttack only adds to it
    assert torch.equal(aa, _run(model, "autoattack", 0.1, test, ctx, quick))  # reproducible
    state = torch.random.get_rng_state()
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    _run(model, "apgd-t", 0.1, test, ctx, quick)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's generator untouched
    for p, before in zip(model.parameters(), grads, strict=True):  # weights untouched too
        assert p.requires_grad and (p.grad is None if before is None else p.grad.equal(before))


def test_a_curve_attack_rerun_with_other_parameters_replaces_the_old_entry(fashion, trained):
    model, _ = trained
    test = _test(fashion, 50)
    tasks = [Task("pgd-restarts", 0.1, "curve"), Task("fgsm", 0.1, "curve")]
    seed = lambda g, e, s: 3 + s  # noqa: E731
    ctx = AttackContext(10)
    weak = presets({"pgd_steps": 1, "pgd_restarts": 1})
    entries = evaluate_model(model, test, tasks, ctx, seed, chosen=weak)
    strong = presets({"pgd_steps": 10, "pgd_restarts": 1})
    entries = evaluate_model(model, test, tasks[:1], ctx, seed, chosen=strong, entries=entries)
    roles = sorted((e.attack, e.params, e.role) for e in entries.values())
    assert roles == [
        ("fgsm", "", "curve"),
        ("pgd-restarts", "restarts=1,steps=1", "replaced"),
        ("pgd-restarts", "restarts=1,steps=10", "curve"),
    ]
    worst = next(r for r in table_rows(entries) if r["attack"] == "worst-case")
    assert worst["params"] == "fgsm+pgd-restarts"
    by = {(e.params, e.role): e.robust for e in entries.values()}
    current = by[("restarts=1,steps=10", "curve")] & by[("", "curve")]
    assert worst["correct"] == int(current.sum())  # the replaced entry is out of the worst case


def test_evaluate_autoattack_and_checks_work_without_torchattacks(tmp_path, fashion, monkeypatch):
    import sys

    from robust_tickets.evaluation import library

    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import fails, as when not installed
    monkeypatch.setattr(library, "available", lambda: False)
    config = small_config(train_iters=20, eval_every=20, prune_iters=0)
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=fashion)
    argv = ["evaluate", str(tmp_path), "--attacks", "autoattack", "--eps", "0.3", "-q"]
    argv += ["--n-examples", "40", "--apgd-steps", "3", "--fab-steps", "3"]
    argv += ["--square-queries", "20", "--pgd-steps", "3", "--pgd-restarts", "1"]
    assert main(argv) == 0
    store = RobustnessDir.of(exp.trial(0).level(0))
    checks = {c["check"]: c["flag"] for c in store.read_checks()["checks"]}
    assert checks["library"] == "skip" and checks["black-box"] in ("pass", "warn")
    assert {e.attack for e in store.load().values()} >= {"autoattack", "square"}
    assert main([*argv[:3], "ta-autoattack", *argv[4:]]) == 2  # needs the optional library


def test_results_of_another_implementation_leave_the_curve(fashion, trained):
    """An `autoattack` stored by the torchattacks-built version (params without impl=) is
    kept, but out of the worst case, even when autoattack is not asked for again."""
    from robust_tickets.evaluation.store import Entry

    model, _ = trained
    test = _test(fashion, 40)
    ctx = AttackContext(10)
    old_params = "apgd_steps=100,fab_steps=100,queries=5000"
    fooled = torch.zeros(40, dtype=torch.bool)
    old = Entry("autoattack", old_params, 0.1, 40, "curve", 1.0, fooled)
    saves = []
    entries = evaluate_model(
        model,
        test,
        [Task("fgsm", 0.1, "curve")],
        ctx,
        lambda g, e, s: s,
        entries={old.key: old},
        saved=lambda found: saves.append(dict(found)),
    )
    assert entries[old.key].role == "replaced" and saves[0][old.key].role == "replaced"
    worst = next(r for r in table_rows(entries) if r["attack"] == "worst-case")
    assert worst["params"] == "fgsm" and worst["correct"] > 0  # not the old all-fooled entry


def test_default_radii_follow_the_datasets_threat_model():
    from robust_tickets.evaluation.runner import DEFAULT_EPS, default_eps
    from robust_tickets.resolve import from_flat

    cifar = from_flat({"dataset": "cifar10", "model": "conv2", "attack": "pgd"})
    paper = from_flat({"dataset": "fashion_mnist"})
    assert default_eps(cifar) == tuple(k / 255 for k in (0, 2, 4, 6, 8, 10, 12, 16))
    assert default_eps(paper) == DEFAULT_EPS and max(DEFAULT_EPS) == 0.4
    # the training eps is on each default curve, so the curve and the checks meet there
    assert cifar.attack.eps in default_eps(cifar) and paper.attack.eps in default_eps(paper)


# ---- what evaluate prints: an estimate before, a results table after ------------------------
def _printed_table(out: str) -> dict[tuple[int, int], dict[str, str]]:
    """The main results table's rows by (trial, level), each {column: cell}."""
    lines = out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.split()[:2] == ["trial", "level"])
    header = lines[start].split()
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split(None, len(header) - 1)
        if not cells or not cells[0].isdigit():
            break
        rows[(int(cells[0]), int(cells[1]))] = dict(zip(header, cells, strict=True))
    return rows


def _check_printed_results(out: str, err: str, exp, n: int, eps: float) -> None:
    """The announcement names what the checks add and how to skip them; the table's numbers
    are the stored ones (clean, each attack, worst case, the checks' flag), in 100 columns."""
    # the announcement is on stdout (stderr stays for a one-line error), before the results
    path = str(exp.path.resolve())  # printed absolute, on a line of its own (may be long)
    text = " ".join(out.split())
    start, end = text.index("the masking checks add"), text.index("(--no-checks skips them)")
    for name in ("pgd-restarts", "square", "transfer", "at eps 1"):
        assert name in text[start:end], text
    assert end < text.index(path)  # said before the work, not after
    assert "evaluate took" in err
    assert path in out.splitlines()
    assert all(len(line) <= 100 for line in out.splitlines() if line != path), out
    rows = _printed_table(out)
    assert set(rows) == {(0, 0), (0, 1)}
    for (trial, level), row in rows.items():
        store = RobustnessDir.of(exp.trial(trial).level(level))
        table = [r for r in store.read_table() if r["n"] == n and r["role"] == "curve"]
        acc = {(r["attack"], r["eps"]): r["acc"] for r in table}
        assert row["clean"] == f"{100 * acc[('worst-case', 0.0)]:.1f}"
        assert row["worst"] == f"{100 * acc[('worst-case', eps)]:.1f}"
        for attack in ("fgsm", "autoattack"):
            assert row[attack] == f"{100 * acc[(attack, eps)]:.1f}"
        checks = store.read_checks()
        warned = [c["check"] for c in checks["checks"] if c["flag"] == "warn"]
        assert row["checks"].split(":")[0] == checks["flag"]
        shown = row["checks"].removeprefix("warn: ").split(",") if warned else []
        assert [SHORT.get(w, w) if len(row["checks"]) > 30 else w for w in warned] == shown


def test_results_table_fits_100_columns_with_many_attacks_and_warnings():
    from robust_tickets.evaluation.summary import LevelResult, format_results

    attacks = ["fgsm", "pgd", "pgd-restarts", "apgd-ce", "apgd-t", "fab-t", "square", "transfer"]
    radii = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    results = [
        LevelResult(
            trial=t,
            level=level,
            remaining=100 * 0.8**level,
            n=10_000,
            clean=0.9,
            acc={(a, e): 0.5 - e / 3 for a in attacks for e in radii},
            worst={e: 0.4 - e / 3 for e in radii},
            flag="warn",
            warned=["monotone", "unbounded", "more-steps", "black-box", "transfer", "library"],
        )
        for t in range(3)
        for level in range(19)
    ]
    text = format_results(Path("/a/long/results/path"), results, check_eps=0.3)
    assert all(len(line) <= 100 for line in text.splitlines()), text
    rows = _printed_table(text)
    assert len(rows) == 57 and rows[(2, 18)]["left%"] == "1.8" and rows[(1, 15)]["left%"] == "3.52"
    assert rows[(0, 0)]["worst"] == "30.0" and rows[(0, 0)]["left%"] == "100"
    assert rows[(0, 0)]["checks"] == "warn: mono,unbd,steps,bbox,transf,lib"  # short names fit
    assert "not shown for width" in text  # the attacks that did not fit are named
    assert "worst case (%) by eps" in text


def test_estimate_counts_every_attack_and_the_low_end_never_exceeds_the_high():
    from robust_tickets.evaluation import estimate

    ctx, chosen = AttackContext(10), presets()
    times = estimate.PassTimes(grad=1e-4, forward=4e-5)
    for name in EVAL_ATTACKS.names():
        low, high = times.seconds(estimate.attack_passes(chosen[name], 0.3, ctx), 1000)
        assert 0 < low <= high, name
    # what stops early has a range; what runs its steps on every example has none
    assert estimate.attack_passes(chosen["apgd-ce"], 0.3, ctx).grad_low == 100
    restarts = estimate.attack_passes(chosen["pgd-restarts"], 0.3, ctx)
    assert (restarts.grad_low, restarts.grad_high) == (40, 200)
    assert estimate.attack_passes(chosen["square"], 0.3, ctx).fwd_high >= 5000
    assert estimate.attack_passes(chosen["fgsm"], 0.0, ctx).grad_high == 0  # eps 0: no attack
    # a preset's own settings count: a suite's, through its parts
    lighter = presets({"apgd_steps": 10, "pgd_steps": 4})
    assert estimate.attack_passes(lighter["pgd-restarts"], 0.3, ctx).grad_high == 20
    assert estimate.attack_passes(lighter["autoattack"], 0.3, ctx).grad_low == 10
    assert [estimate.duration(s) for s in (0.2, 7, 44, 400, 9000)] == [
        "1 s",
        "7 s",
        "44 s",
        "7 min",
        "2.5 h",
    ]


def test_presets_at_the_training_settings_keep_their_stored_parameters():
    """The presets that take the training run's attack settings (its component's params, or
    the dataset's defaults of another attack's) name them as their stored entries were keyed."""
    from robust_tickets.resolve import from_flat

    def params(values: dict, name: str) -> str:
        config = from_flat(values)
        ctx = AttackContext(10, config.attack, dataset=config.data.dataset)
        return EVAL_ATTACKS.get(name).param_string(ctx)

    cifar = {"dataset": "cifar10", "model": "conv2"}
    assert params(cifar, "pgd") == "step=0.25,steps=10"  # an FGSM run: CIFAR-10's PGD
    paper = "attack=pgd,labels=true,step=0.25,steps=3"
    assert params({**cifar, "attack": "pgd", "steps": 3}, "paper") == paper
    assert params({"attack": "pgd", "steps": 3, "step_size": 0.1, "eps": 0.2}, "pgd") == (
        "step=0.5,steps=3"
    )
    assert params({"attack": "nfgsm", "nfgsm_noise": 1.5}, "nfgsm") == "noise=1.5,step=1.0"
    assert params({"attack": "fgsm-rs", "fgsm_rs_step": 1.0}, "fgsm-rs") == "step=1.0"
    assert params({}, "paper") == "attack=fgsm,labels=predicted"
