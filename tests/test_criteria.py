"""Pruning criteria (magnitude, random, shuffle, snip, hydra): exact counts on every model under
both allocations, determinism, the controls' properties, HYDRA's score phase against an autograd
reference, its frozen weights (and batch norm, unless `hydra_train_bn`) and fine-tuning,
one-shot pruning, resume in the middle of each phase, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import TINY_MODELS, small_config
from tests.test_any_model import _files, _runner, _StopAfter
from tests.test_cli import TINY as CLI_TINY
from tests.test_cli import assert_one_line_error, cli

from robust_tickets.attacks import ATTACKS
from robust_tickets.engine.trial import pruning_rates
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import MODELS, create_model
from robust_tickets.models.ticket import apply_masks_, full_masks, state
from robust_tickets.progress import Progress
from robust_tickets.pruning import CRITERIA, PRUNE_METHODS, PruneContext, keep_counts
from robust_tickets.pruning.criteria.hydra import scaled_scores, score_phase
from robust_tickets.resolve import from_flat
from robust_tickets.store import load_tensors
from robust_tickets.training import AutogradStepper

NESTED = {"magnitude", "random", "snip", "hydra"}  # shuffle draws positions over the layer


def _pick(name: str, **settings):
    """The criterion `name` with its settings from flat names (few batches and steps: fast)."""
    spec = from_flat({"criterion": name, "hydra_iters": 2, "snip_batches": 1, **settings})
    return CRITERIA.get(spec.prune.criterion)


def _setup(model_name: str, method: str, criterion: str = "magnitude", **overrides):
    """A model two levels in: masked by magnitude at level 1, to be pruned to level 2 (the
    config names `criterion`: settings a criterion does not read are reset to defaults)."""
    model_name = TINY_MODELS.get(model_name, model_name)  # the CIFAR nets at a tiny width
    conv = MODELS.get(model_name).fits((1, 28, 28)) is not None
    shape = (3, 32, 32) if conv else (1, 28, 28)
    config = from_flat(
        {
            **({"dataset": "cifar10"} if conv else {}),
            "model": model_name,
            "prune_method": method,
            "criterion": criterion,
            "hydra_iters": 2,
            "snip_batches": 1,
            "batch_size": 4,
            **overrides,
        }
    )
    model = create_model(model_name, shape, 10, 0)
    sizes = {n: m.numel() for n, m in full_masks(model).items()}
    rates = pruning_rates(config, model)
    level1 = PRUNE_METHODS.get(method).keep_top(
        {n: p.abs() for n, p in state(model).items() if n in sizes},
        full_masks(model),
        keep_counts(sizes, rates, 1),
    )
    apply_masks_(model, level1)
    model.eval()
    data = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, *shape, generator=data), torch.randint(0, 10, (8,), generator=data)

    def context(seed: int = 0) -> PruneContext:
        stepper = AutogradStepper(model, level1, None, config, ATTACKS.cls(config.attack.attack))
        attack_gen = torch.Generator().manual_seed(seed)
        return PruneContext(
            tensors=state(model),
            masks=level1,
            keep=keep_counts(sizes, rates, 2),
            allocation=PRUNE_METHODS.get(config.prune.allocation),
            generator=torch.Generator().manual_seed(seed),
            model=model,
            batches=lambda n: ((x[i % 2 * 4 :][:4], y[i % 2 * 4 :][:4]) for i in range(n)),
            loss=lambda a, b: stepper.loss(a, b, attack_gen),
        )

    return model, context


@pytest.mark.parametrize("criterion", CRITERIA.names())
@pytest.mark.parametrize("method", PRUNE_METHODS.names())
@pytest.mark.parametrize("model_name", MODELS.names())
def test_exact_counts_for_every_criterion_model_and_allocation(criterion, method, model_name):
    _, context = _setup(model_name, method, criterion)
    ctx = context()
    masks = _pick(criterion)(ctx)
    counts = {n: int(m.sum()) for n, m in masks.items()}
    assert set(counts) == set(ctx.masks)
    assert all(bool(((m == 0) | (m == 1)).all()) for m in masks.values())
    if method == "layerwise":
        assert counts == ctx.keep
    else:
        assert sum(counts.values()) == sum(ctx.keep.values())
        if criterion in ("random", "shuffle"):  # magnitude's per-layer counts, to the weight
            magnitude = _pick("magnitude")(context())
            assert counts == {n: int(m.sum()) for n, m in magnitude.items()}
    if criterion in NESTED:  # pruned weights never come back
        assert all(bool((masks[n] <= ctx.masks[n]).all()) for n in masks)


@pytest.mark.parametrize("criterion", CRITERIA.names())
def test_the_same_seed_gives_the_same_masks(criterion):
    _, context = _setup("lenet5", "layerwise", criterion, adv_train=True, attack="pgd", steps=2)
    first, again = _pick(criterion)(context(5)), _pick(criterion)(context(5))
    assert all(torch.equal(first[n], again[n]) for n in first)
    if criterion in ("random", "shuffle"):  # and the seed matters
        other = _pick(criterion)(context(6))
        assert any(not torch.equal(first[n], other[n]) for n in first)


@pytest.mark.parametrize("method", PRUNE_METHODS.names())
def test_shuffle_keeps_each_layers_density_and_moves_its_positions(method):
    _, context = _setup("dense-300-100", method)
    magnitude, shuffled = _pick("magnitude")(context()), _pick("shuffle")(context())
    for n in magnitude:
        assert int(shuffled[n].sum()) == int(magnitude[n].sum())
        # random positions overlap magnitude's in about the layer's density, not everywhere
        overlap = float((shuffled[n] * magnitude[n]).sum()) / float(magnitude[n].sum())
        density = float(magnitude[n].mean())
        assert overlap < 1 and abs(overlap - density) < 0.1
    # positions are drawn over the whole layer, so some weights pruned at level 1 come back
    assert any(bool((shuffled[n] > context().masks[n]).any()) for n in shuffled)


def test_random_differs_from_magnitude_and_snip_from_both():
    _, context = _setup("dense-300-100", "layerwise", "snip")
    masks = {c: _pick(c)(context()) for c in ("magnitude", "random", "snip")}
    for a, b in (("magnitude", "random"), ("magnitude", "snip"), ("random", "snip")):
        assert any(not torch.equal(masks[a][n], masks[b][n]) for n in masks[a])


def test_scaled_score_init_is_proportional_to_the_weights_at_kaiming_scale():
    w = {"fc.weight": torch.tensor([[0.5, -2.0, 1.0], [0.0, 0.25, -1.0]])}
    s = scaled_scores(w)["fc.weight"]
    bound = (6 / 3) ** 0.5  # fan_in 3
    assert torch.allclose(s, bound * w["fc.weight"] / 2.0)
    assert float(s.abs().max()) == pytest.approx(bound)


def test_hydra_trains_scores_with_the_weights_frozen():
    model, context = _setup("dense-300-100", "layerwise", "hydra", hydra_iters=20, hydra_lr=5.0)
    ctx = context()
    before = {n: t.clone() for n, t in ctx.tensors.items()}
    masks = _pick("hydra", hydra_iters=20, hydra_lr=5.0)(ctx)
    after = state(model)
    assert all(torch.equal(after[n], before[n]) for n in before)  # the model's weights
    assert all(torch.equal(ctx.tensors[n], before[n]) for n in before)  # the context's
    # the scores moved: the mask is no longer the magnitude ranking they started from
    magnitude = _pick("magnitude")(context())
    assert any(not torch.equal(masks[n], magnitude[n]) for n in masks)
    # and one step at a tiny rate leaves it there (the init is magnitude's ranking)
    _, still = _setup("dense-300-100", "layerwise", "hydra", hydra_iters=1, hydra_lr=1e-9)
    barely = _pick("hydra", hydra_iters=1, hydra_lr=1e-9)(still())
    assert all(torch.equal(barely[n], magnitude[n]) for n in masks)


class _TopKStraightThrough(torch.autograd.Function):
    """The reference's mask: 1 on the `keep` largest entries, the gradient passed on unchanged."""

    @staticmethod
    def forward(ctx, magnitude, keep):
        mask = torch.zeros(magnitude.numel())
        mask[magnitude.flatten().topk(keep).indices] = 1.0
        return mask.view_as(magnitude)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def test_hydra_score_phase_is_sgd_through_a_straight_through_top_k():
    """HYDRA's pruning phase written the plain way (models/layers.py's masked layers): scores
    as leaves, w * topk(|s|) in the forward, the gradient straight through the top-k, and
    torch's SGD (momentum 0.9, weight decay 1e-4) on the scores alone at our cosine rate. Ours
    must end with the same scores, hence the same masks, with the weights untouched."""
    model = create_model("dense-300-100", (1, 28, 28), 10, 0).eval()
    masks = full_masks(model)
    sizes = {n: m.numel() for n, m in masks.items()}
    keep = {n: round(0.3 * size) for n, size in sizes.items()}
    data = torch.Generator().manual_seed(2)
    batches = [
        (torch.rand(16, 1, 28, 28, generator=data), torch.randint(0, 10, (16,))) for _ in range(8)
    ]
    ctx = PruneContext(
        tensors=state(model),
        masks=masks,
        keep=keep,
        allocation=PRUNE_METHODS.get("layerwise"),
        generator=torch.Generator().manual_seed(0),
        model=model,
        batches=lambda n: iter(batches[:n]),
        loss=lambda x, y: F.cross_entropy(model(x), y),
    )
    before = state(model)
    iters, rate = len(batches), 2.0
    ours, adapted = score_phase(ctx, iters, rate)
    assert adapted == {} and all(torch.equal(t, before[n]) for n, t in state(model).items())

    weights = {n: before[n] for n in masks}
    scores = {n: s.clone().requires_grad_() for n, s in scaled_scores(weights).items()}
    sgd = torch.optim.SGD(list(scores.values()), lr=rate, momentum=0.9, weight_decay=1e-4)
    for i, (x, y) in enumerate(batches):
        for group in sgd.param_groups:
            group["lr"] = 0.5 * rate * (1 + math.cos(math.pi * i / iters))
        effective = {
            n: weights[n] * _TopKStraightThrough.apply(s.abs(), keep[n]) for n, s in scores.items()
        }
        loss = F.cross_entropy(torch.func.functional_call(model, effective, (x,)), y)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
    for n in masks:
        assert torch.allclose(ours[n], scores[n].detach(), rtol=1e-4, atol=1e-7), n
    final = ctx.keep_top({n: s.abs() for n, s in ours.items()})
    reference = ctx.keep_top({n: s.detach().abs() for n, s in scores.items()})
    assert all(torch.equal(final[n], reference[n]) for n in masks)
    # the scores moved far enough for that to mean something: not magnitude's top-k any more
    start = ctx.keep_top({n: w.abs() for n, w in weights.items()})
    assert any(not torch.equal(final[n], start[n]) for n in masks)


@pytest.mark.parametrize("train_bn", [False, True])
def test_hydra_leaves_a_batch_norm_model_as_found_and_adapts_batch_norm_only_if_asked(train_bn):
    settings = {"hydra_iters": 3, "hydra_lr": 1.0, "hydra_train_bn": train_bn}
    model, context = _setup("resnet20", "layerwise", "hydra", attack="pgd", steps=1, **settings)
    ctx = context()
    before = state(model)
    _pick("hydra", **settings)(ctx)
    after = state(model)  # every parameter and buffer: running statistics too
    assert all(torch.equal(after[n], before[n]) for n in before) and not model.training
    if not train_bn:
        assert ctx.adapted == {}
        return
    norms = {
        f"{p}.{k}"
        for p, m in model.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d)
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    }
    assert norms and set(ctx.adapted) == norms  # batch norm's state, no prunable weight
    for suffix in ("weight", "bias", "running_mean"):  # HYDRA's SGD moved gamma and beta
        assert any(
            not torch.equal(ctx.adapted[n], before[n]) for n in norms if n.endswith(suffix)
        ), suffix


HYDRA_RUN = {
    "criterion": "hydra",
    "strategy": "continue",
    "one_shot": True,
    "adv_train": True,
    "attack": "pgd",
    "steps": 2,
    "hydra_iters": 6,
    "train_iters": 6,
    "eval_every": 3,
    "prune_iters": 2,
    "batch_size": 20,
}


def test_hydra_one_shot_fine_tunes_the_dense_survivors_and_pruned_weights_stay_zero(
    tmp_path, toy_fashion
):
    config = small_config(**HYDRA_RUN)
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=toy_fashion)
    trial = exp.trial(0)
    dense = load_tensors(trial.level(0).final)
    sizes = {n: m.numel() for n, m in load_tensors(trial.level(0).masks).items()}
    rates = pruning_rates(config, create_model(config.model.model, (1, 28, 28), 10, 0))
    for k in (1, 2):
        level = trial.level(k)
        masks, init, final = (load_tensors(p) for p in (level.masks, level.init, level.final))
        for n, mask in masks.items():
            assert torch.equal(init[n], dense[n] * mask)  # one-shot from the dense network
            assert torch.all(final[n][mask == 0] == 0)  # fine-tuning keeps pruned weights zero
            assert not torch.equal(final[n], init[n])  # ... and trains the survivors
        assert {n: int(m.sum()) for n, m in masks.items()} == keep_counts(sizes, rates, k)


def test_hydra_train_bn_hands_the_score_phases_batch_norm_to_fine_tuning(tmp_path, toy_cifar):
    """HYDRA's fine-tuning loads its pruning checkpoint: the trained weights (frozen while the
    scores trained) with batch norm as the score phase left it. Off (the default), the level
    starts from the dense network exactly; on, only batch norm's entries differ."""
    starts = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for train_bn in (False, True):
            config = small_config(
                **{
                    **HYDRA_RUN,
                    "dataset": "cifar10",
                    "model": TINY_MODELS["resnet20"],
                    "attack": "fgsm",
                    "hydra_iters": 3,
                    "hydra_lr": 1.0,
                    "hydra_train_bn": train_bn,
                    "train_iters": 2,
                    "eval_every": 2,
                    "prune_iters": 1,
                    "batch_size": 10,
                }
            )
            options = RunOptions(output=tmp_path / str(train_bn), quiet=True)
            trial = run_experiment(config, options, splits=toy_cifar)[0].trial(0)
            level = trial.level(1)
            starts[train_bn] = [
                load_tensors(p) for p in (trial.level(0).final, level.masks, level.init)
            ]
    finally:
        torch.set_num_threads(threads)
    norms = {k.rsplit(".", 1)[0] + "." for k in starts[False][0] if k.endswith("running_mean")}
    for train_bn, (dense, masks, init) in starts.items():
        assert set(init) == set(dense)
        for k, value in init.items():
            expected = dense[k] * masks[k] if k in masks else dense[k]
            if train_bn and any(k.startswith(p) for p in norms):
                continue
            assert torch.equal(value, expected), (train_bn, k)
    dense, _, init = starts[True]
    moved = [k for k in init if any(k.startswith(p) for p in norms) and k.endswith("weight")]
    assert moved and any(not torch.equal(init[k], dense[k]) for k in moved)
    assert any(not torch.equal(init[k], dense[k]) for k in init if k.endswith("running_var"))


def test_resume_in_the_score_phase_and_in_fine_tuning_equals_an_uninterrupted_run(
    tmp_path, toy_fashion, monkeypatch
):
    config = small_config(**{**HYDRA_RUN, "prune_iters": 1})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _runner(config, tmp_path / "a", toy_fashion, Progress(0, quiet=True)).run()
        # interrupt level 1's score phase after 3 of its 6 steps (the loss is called once a step)
        calls, real_loss = {"n": 0}, AutogradStepper.loss

        def interrupting(self, *args):
            if self.optimizer is None:
                calls["n"] += 1
                if calls["n"] == 4:
                    raise KeyboardInterrupt
            return real_loss(self, *args)

        monkeypatch.setattr(AutogradStepper, "loss", interrupting)
        with pytest.raises(KeyboardInterrupt):
            _runner(config, tmp_path / "b", toy_fashion, Progress(0, quiet=True)).run()
        monkeypatch.setattr(AutogradStepper, "loss", real_loss)
        assert not (tmp_path / "b").joinpath(config.name(), "trial_0", "level_01").exists()
        with pytest.raises(KeyboardInterrupt):  # then in the middle of level 1's fine-tuning
            _runner(config, tmp_path / "b", toy_fashion, _StopAfter(6 + 4)).run()
        _runner(config, tmp_path / "b", toy_fashion, Progress(0, quiet=True)).run()
    finally:
        torch.set_num_threads(threads)
    assert _files(tmp_path / "a", config) == _files(tmp_path / "b", config)


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"criterion": "nope"}, "unknown pruning criterion"),
        ({"criterion": "hydra", "hydra_iters": 0}, "hydra_iters"),
        ({"criterion": "hydra", "hydra_iters": -3}, "hydra_iters"),
        ({"criterion": "hydra", "hydra_lr": 0}, "hydra_lr"),
        ({"criterion": "snip", "snip_batches": 0}, "snip_batches"),
        ({"criterion": "snip", "valid_size": 59990}, "criterion snip draws training batches"),
        ({"criterion": "hydra", "valid_size": 60000}, "criterion hydra draws training batches"),
    ],
)
def test_bad_criterion_settings_are_user_errors(values, needle):
    with pytest.raises(UserError, match=needle):
        from_flat(values)


def test_a_criterion_without_data_or_a_dense_run_does_not_need_training_batches():
    from_flat({"criterion": "random", "valid_size": 59990})  # fails later, as any run would
    from_flat({"criterion": "snip", "valid_size": 59990, "strategy": "dense"})


def test_the_cli_refuses_a_bad_criterion_setting_before_writing(tmp_path):
    out = tmp_path / "out"
    for flags, needle in (
        (["--criterion", "hydra", "--hydra-iters", "0"], "hydra_iters"),
        (["--criterion", "magic"], "unknown pruning criterion"),
    ):
        assert_one_line_error(cli("run", *CLI_TINY, *flags, "-o", out), needle)
        assert not out.exists()


def test_criterion_settings_split_runs_only_for_the_criterion_that_reads_them():
    base = from_flat({})
    assert base.name() == from_flat({"criterion": "magnitude", "hydra_iters": 9}).name()
    assert base.name() == from_flat({"snip_batches": 3, "hydra_lr": 0.5}).name()
    hydra = from_flat({"criterion": "hydra"})
    assert hydra.name() != base.name()
    assert from_flat({"criterion": "hydra", "hydra_iters": 9}).name() != hydra.name()
    assert from_flat({"criterion": "hydra", "snip_batches": 3}).name() == hydra.name()
    # hydra_train_bn came later: off (how every earlier hydra run behaved) keeps their names
    assert from_flat({"criterion": "hydra", "hydra_train_bn": False}).name() == hydra.name()
    assert from_flat({"criterion": "hydra", "hydra_train_bn": True}).name() != hydra.name()
    assert base.name() == from_flat({"hydra_train_bn": True}).name()
    assert from_flat({"criterion": "snip", "snip_batches": 3}).name() != (
        from_flat({"criterion": "snip"}).name()
    )
    assert from_flat({"one_shot": True}).name() != base.name()
    assert from_flat({"strategy": "dense", "criterion": "hydra", "one_shot": True}).name() == (
        from_flat({"strategy": "dense"}).name()
    )


def test_the_sweep_estimate_counts_the_criterions_own_steps_and_the_test_size():
    from robust_tickets.sweep.estimate import Rates, job_seconds
    from robust_tickets.sweep.jobs import Job, eval_images

    values = {"train_iters": 10, "eval_every": 10, "prune_iters": 3, "test_size": 500}
    steps_only = Rates(step=1.0, image=0.0)
    for criterion, extra in (("magnitude", 0), ("snip", 7), ("hydra", 20)):
        config = from_flat({**values, "criterion": criterion, "snip_batches": 7, "hydra_iters": 20})
        assert job_seconds(Job(config, 0), steps_only) == 4 * 10 + 3 * extra
    assert eval_images(from_flat(values)) == 10_000 + 500
