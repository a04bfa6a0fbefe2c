import pytest
import torch

from robust_tickets.models import create_model
from robust_tickets.models.masked import masks, weights
from robust_tickets.pruning import PRUNE_METHODS, keep_counts, layer_rates

PAPER_SCHEDULE = {3: 51.3, 8: 16.9, 11: 8.7, 15: 3.6, 18: 1.8}


def _prune_levels(method, levels, hidden=0.2, output=0.1):
    model = create_model("dense-300-100", (1, 28, 28), 10, 0)
    w, m = weights(model), masks(model)
    names = list(m)
    sizes = {n: m[n].numel() for n in names}
    rates = (
        layer_rates(names, hidden, output)
        if method == "layerwise"
        else dict.fromkeys(names, hidden)
    )
    history = {0: m}
    g = torch.Generator().manual_seed(0)
    for level in range(1, levels + 1):
        # fresh "trained" weights each level, so pruning must respect the old mask
        trained = {n: torch.randn(w[n].shape, generator=g) * m[n] for n in names}
        m = PRUNE_METHODS.get(method)(trained, m, keep_counts(sizes, rates, level))
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


def test_exact_per_layer_fraction_each_level():
    history, sizes, _ = _prune_levels("layerwise", 3)
    for level in (1, 2, 3):
        for n, mask in history[level].items():
            survivors_before = int(history[level - 1][n].sum())
            pruned = survivors_before - int(mask.sum())
            rate = 0.1 if n == list(sizes)[-1] else 0.2
            assert abs(pruned - rate * survivors_before) <= 1


@pytest.mark.parametrize("method", PRUNE_METHODS.names())
def test_pruned_weights_never_come_back(method):
    history, _, _ = _prune_levels(method, 5)
    for level in range(1, 6):
        for n in history[level]:
            assert torch.all(history[level][n] <= history[level - 1][n])


def test_layerwise_keeps_the_largest_magnitudes():
    w = {"a": torch.tensor([[0.1, -5.0, 0.3, 2.0, -0.2]])}
    m = {"a": torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])}
    new = PRUNE_METHODS.get("layerwise")(w, m, {"a": 2})
    assert new["a"].tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0]]


def test_global_prunes_across_layers():
    w = {"a": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([[10.0, 20.0]])}
    m = {k: torch.ones_like(v) for k, v in w.items()}
    new = PRUNE_METHODS.get("global")(w, m, {"a": 1, "b": 1})
    assert new["a"].sum() == 0 and new["b"].sum() == 2
