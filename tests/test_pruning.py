"""Allocation (exact counts per layer or in total), the magnitude criterion and per-kind rates,
for every registered model."""

import pytest
import torch

from robust_tickets.engine.trial import pruning_rates
from robust_tickets.models import MODELS, create_model
from robust_tickets.models.ticket import full_masks, layer_kinds, prunable, state
from robust_tickets.pruning import CRITERIA, PRUNE_METHODS, PruneContext, keep_counts, layer_rates
from robust_tickets.resolve import from_flat, replace_fields

PAPER_SCHEDULE = {3: 51.3, 8: 16.9, 11: 8.7, 15: 3.6, 18: 1.8}
SHAPES = {"dense-300-100": (1, 28, 28), "lenet5": (1, 28, 28)}


def _model(name: str, seed: int = 0):
    return create_model(name, SHAPES.get(name, (3, 32, 32)), 10, seed)


def _context(model, trained, masks, keep, method, criterion_seed=0):
    return PruneContext(
        tensors=trained,
        masks=masks,
        keep=keep,
        allocation=PRUNE_METHODS.get(method),
        generator=torch.Generator().manual_seed(criterion_seed),
        model=model,
        batches=lambda n: iter(()),
        loss=lambda x, y: torch.zeros(()),
    )


def _prune_levels(method, levels, model_name="dense-300-100", rates_by_kind=None):
    model = _model(model_name)
    m = full_masks(model)
    names = list(m)
    sizes = {n: m[n].numel() for n in names}
    by_kind = rates_by_kind or {"conv": 0.1, "fc": 0.2, "output": 0.1}
    rates = (
        layer_rates(layer_kinds(model), by_kind)
        if method == "layerwise"
        else dict.fromkeys(names, by_kind["fc"])
    )
    history = {0: m}
    g = torch.Generator().manual_seed(0)
    for level in range(1, levels + 1):
        # fresh "trained" weights each level, so pruning must respect the old mask
        trained = {n: torch.randn(m[n].shape, generator=g) * m[n] for n in names}
        keep = keep_counts(sizes, rates, level)
        m = CRITERIA.get("magnitude")(_context(model, trained, m, keep, method))
        history[level] = m
    return history, sizes, rates


def test_layerwise_follows_the_papers_schedule():
    history, sizes, rates = _prune_levels("layerwise", 20)
    total = sum(sizes.values())
    for level, percent in PAPER_SCHEDULE.items():
        kept = {n: int(v.sum()) for n, v in history[level].items()}
        for n in kept:  # within one weight of the exact per-layer schedule
            assert abs(kept[n] - sizes[n] * (1 - rates[n]) ** level) <= 1
        # the paper prints 1.8 for 1.85 (truncated), hence 0.06 rather than 0.05
        assert abs(100 * sum(kept.values()) / total - percent) < 0.06


@pytest.mark.parametrize("model_name", MODELS.names())
def test_exact_per_layer_counts_by_kind_each_level(model_name):
    by_kind = {"conv": 0.15, "fc": 0.2, "output": 0.1}
    history, sizes, _ = _prune_levels("layerwise", 3, model_name, by_kind)
    kinds = layer_kinds(_model(model_name))
    for level in (1, 2, 3):
        for n, mask in history[level].items():
            assert int(mask.sum()) == round(sizes[n] * (1 - by_kind[kinds[n]]) ** level)


@pytest.mark.parametrize("model_name", MODELS.names())
@pytest.mark.parametrize("method", PRUNE_METHODS.names())
def test_pruned_weights_never_come_back(method, model_name):
    history, _, _ = _prune_levels(method, 4, model_name)
    for level in range(1, 5):
        for n in history[level]:
            assert torch.all(history[level][n] <= history[level - 1][n])


@pytest.mark.parametrize("model_name", MODELS.names())
def test_models_declare_prunable_weights_and_output(model_name):
    model = _model(model_name)
    kinds = layer_kinds(model)
    names = list(prunable(model))
    assert list(kinds.values()).count("output") == 1 and kinds[names[-1]] == "output"
    for name, param in prunable(model).items():
        assert name.endswith("weight") and param.dim() in (2, 4)
        assert kinds[name] == (
            "output" if name == names[-1] else "conv" if param.dim() == 4 else "fc"
        )
    assert ("conv" in kinds.values()) == (
        "conv" in MODELS.get(model_name).layer_kinds(SHAPES.get(model_name, (3, 32, 32)))
    )
    # a ticket's state is every parameter and buffer, biases included
    assert set(state(model)) == set(model.state_dict())


def test_conv_model_rates_by_kind_from_the_config():
    config = from_flat({"dataset": "cifar10", "model": "conv4", "prune_rate_conv": 0.15})
    model = _model("conv4")
    rates = pruning_rates(config, model)
    assert [rates[n] for n in rates] == [0.15] * 4 + [0.2, 0.2, 0.1]
    global_rates = pruning_rates(replace_fields(config, prune_method="global"), model)
    assert set(global_rates.values()) == {0.2}


def test_layerwise_keeps_the_largest_magnitudes():
    w = {"a": torch.tensor([[0.1, -5.0, 0.3, 2.0, -0.2]])}
    m = {"a": torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])}
    new = CRITERIA.get("magnitude")(_context(None, w, m, {"a": 2}, "layerwise"))
    assert new["a"].tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0]]


def test_global_prunes_across_layers():
    w = {"a": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([[10.0, 20.0]])}
    m = {k: torch.ones_like(v) for k, v in w.items()}
    new = PRUNE_METHODS.get("global").keep_top(
        {k: v.abs() for k, v in w.items()}, m, {"a": 1, "b": 1}
    )
    assert new["a"].sum() == 0 and new["b"].sum() == 2


def test_negative_scores_still_keep_exact_counts():
    scores = {"a": torch.tensor([[-3.0, -1.0, -2.0, -0.5]])}
    m = {"a": torch.tensor([[1.0, 1.0, 1.0, 0.0]])}
    new = PRUNE_METHODS.get("layerwise").keep_top(scores, m, {"a": 2})
    assert new["a"].tolist() == [[0.0, 1.0, 1.0, 0.0]]


@pytest.mark.parametrize("size,rate", [(784 * 300, 0.2), (300 * 100, 0.2), (1000, 0.1), (37, 0.2)])
def test_the_original_count_is_what_the_originals_cutoff_prunes(size, rate):
    """The original's rule done literally on random magnitudes (sort the survivors, cutoff at
    index round(rate * survivors), prune every survivor <= it) keeps what
    `original_keep_counts` says, at every level; and from level 1 on one weight fewer per level
    than the rate alone would."""
    from robust_tickets.pruning.allocation import original_keep_counts

    magnitudes = torch.rand(
        size, generator=torch.Generator().manual_seed(size), dtype=torch.float64
    )
    alive = torch.ones(size, dtype=torch.bool)
    for level in range(1, 19):
        survivors = magnitudes[alive].sort().values
        cutoff = survivors[round(rate * len(survivors))] if len(survivors) else None
        if cutoff is not None:
            alive &= magnitudes > cutoff
        expected = original_keep_counts({"w": size}, {"w": rate}, level)["w"]
        assert int(alive.sum()) == expected, level
    one_level = original_keep_counts({"w": size}, {"w": rate}, 1)["w"]
    assert one_level == size - round(rate * size) - 1


def test_layerwise_count_setting_picks_the_rule_and_keeps_old_names():
    model = _model("dense-300-100")
    m = full_masks(model)
    sizes = {n: m[n].numel() for n in m}
    ours = from_flat({"prune_iters": 18})
    theirs = from_flat({"prune_iters": 18, "prune_count": "original"})
    assert ours.name() == from_flat({"prune_iters": 18, "prune_count": "schedule"}).name()
    assert ours.name() != theirs.name()
    for level in (3, 18):
        counts = [
            PRUNE_METHODS.get(cfg.prune.allocation).keep_counts(
                sizes, pruning_rates(cfg, model), level
            )
            for cfg in (ours, theirs)
        ]
        assert counts[0] == keep_counts(sizes, pruning_rates(ours, model), level)
        # the original keeps fewer in every layer (one weight more pruned per level)
        assert all(counts[1][n] < counts[0][n] for n in sizes)
    bad = pytest.raises(Exception, match="count")
    with bad:
        from_flat({"prune_count": "exact"})


def test_a_run_with_the_original_count_keeps_those_counts(tmp_path):
    from tests.conftest import small_config, toy_splits

    from robust_tickets.experiment import RunOptions, run_experiment
    from robust_tickets.pruning.allocation import original_keep_counts
    from robust_tickets.store import load_tensors

    cfg = small_config(train_iters=4, eval_every=4, prune_iters=3, prune_count="original")
    splits = toy_splits((1, 28, 28), 120, 30, 30, seed=0)
    exp, _ = run_experiment(cfg, RunOptions(output=tmp_path, quiet=True), splits=splits)
    model = _model("dense-300-100")
    sizes = {n: m.numel() for n, m in full_masks(model).items()}
    for level in (1, 2, 3):
        masks = load_tensors(exp.trial(0).level(level).masks)
        kept = {n: int(m.sum()) for n, m in masks.items()}
        assert kept == original_keep_counts(sizes, pruning_rates(cfg, model), level)
