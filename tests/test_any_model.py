"""The engine on every registered model: tickets hold the whole state, pruning follows the
per-kind schedule, pooled and resumed runs equal uninterrupted one-at-a-time runs."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import TINY_MODELS, small_config

from robust_tickets.engine.trial import TrialRunner, pruning_rates
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import MODELS, create_model
from robust_tickets.models.ticket import layer_kinds
from robust_tickets.progress import Progress
from robust_tickets.pruning import STRATEGIES
from robust_tickets.results import iter_rows
from robust_tickets.schedule import num_levels
from robust_tickets.store import experiment_dir, load_tensors

# tiny but real: a few steps of adversarial training at a small batch
TINY = {"train_iters": 4, "eval_every": 2, "prune_iters": 2, "batch_size": 20}


def _config(model: str, **overrides):
    data = {"dataset": "cifar10"} if model.startswith("conv") else {}
    values = {**data, "model": model, "adv_train": True, **overrides}
    if model.startswith("conv"):  # a Conv-2 step is costly on CPU: smaller batches
        values.setdefault("prune_rate_conv", 0.15)
        values.setdefault("batch_size", 10)
    return small_config(**{**TINY, **values})


@pytest.fixture
def splits_for(toy_fashion, toy_cifar):
    """Toy data of the model's dataset's shapes: these tests check properties, not accuracy."""
    return lambda model: toy_cifar if model.startswith("conv") else toy_fashion


@pytest.mark.parametrize("model", ["lenet5", "conv2"])
@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_every_strategy_on_conv_models(tmp_path, splits_for, model, strategy):
    config = _config(model, strategy=strategy, rewind_iter=2, attack="fgsm")
    splits = splits_for(model)
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=splits)
    net = create_model(model, tuple(splits.train.x.shape[1:]), 10, 0)
    names = set(net.state_dict())
    rates = pruning_rates(config, net)
    kinds = layer_kinds(net)
    levels = exp.trial(0).levels()
    assert len(levels) == num_levels(config)
    for level, files in levels:
        masks, init, final = (load_tensors(p) for p in (files.masks, files.init, files.final))
        # a ticket is the whole state: every parameter and buffer, biases included
        assert set(init) == set(final) == names and set(masks) == set(kinds)
        for name, mask in masks.items():
            # exact per-layer counts of the schedule for the layer's kind
            expected = round(mask.numel() * (1 - rates[name]) ** level)
            assert int(mask.sum()) == expected, (name, kinds[name])
            assert torch.all(final[name][mask == 0] == 0)  # pruned weights stayed zero
        biases = [n for n in names if n.endswith("bias")]
        assert biases and any(not torch.equal(init[b], final[b]) for b in biases)  # trained
    if strategy == "dense":
        assert len(levels) == 1


def _runner(config, tmp_path, splits, progress) -> TrialRunner:
    exp = experiment_dir(tmp_path, config)
    return TrialRunner(config, exp, 0, splits, torch.device("cpu"), progress)


class _StopAfter(Progress):
    """Interrupts the run after `n` training steps (as Ctrl-C would)."""

    def __init__(self, n: int) -> None:
        super().__init__(0, quiet=True)
        self.left = n

    def advance(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise KeyboardInterrupt


def _files(root, config) -> dict[str, bytes]:
    exp = experiment_dir(root, config)
    out = {}
    for path in sorted(exp.path.rglob("*")):
        if path.is_file() and path.suffix in (".safetensors", ".csv"):
            out[str(path.relative_to(exp.path))] = path.read_bytes()
    return out


@pytest.mark.parametrize("model", ["lenet5", "conv2"])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, splits_for, model):
    config = _config(model, attack="pgd", steps=2, strategy="rewind", rewind_iter=2)
    splits = splits_for(model)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _runner(config, tmp_path / "a", splits, Progress(0, quiet=True)).run()
        for stop in (3, 5, 9):  # mid-level 0 (after the rewind point), mid-level 1, level 2
            with pytest.raises(KeyboardInterrupt):
                _runner(config, tmp_path / "b", splits, _StopAfter(stop)).run()
        _runner(config, tmp_path / "b", splits, Progress(0, quiet=True)).run()
    finally:
        torch.set_num_threads(threads)
    assert _files(tmp_path / "a", config) == _files(tmp_path / "b", config)


@pytest.mark.slow
def test_pooled_conv_trials_equal_one_at_a_time(tmp_path, cifar_small):
    # the pool's worker loads the real data itself (cifar_small: skip or fail where it is
    # missing), so the config says which (small) splits to use
    config = _config("conv2", prune_iters=1, attack="fgsm", valid_size=100, test_size=100)
    threads = torch.get_num_threads()
    try:
        one = RunOptions(trials=2, output=tmp_path / "seq", quiet=True, threads=1)
        run_experiment(config, one)
        pooled = RunOptions(trials=2, output=tmp_path / "par", quiet=True, threads=1, jobs=2)
        run_experiment(config, pooled)
    finally:
        torch.set_num_threads(threads)
    rows = [list(iter_rows(tmp_path / d)) for d in ("seq", "par")]
    assert rows[0] == rows[1] and len(rows[0]) == 2 * 2 * 3 * 2  # trials, levels, evals, splits
    assert _files(tmp_path / "seq", config) == _files(tmp_path / "par", config)


@pytest.mark.parametrize("model", MODELS.names())
def test_models_fit_their_datasets_and_keep_inputs_in_pixel_space(model):
    shape = (3, 32, 32) if model.startswith("conv") else (1, 28, 28)
    if MODELS.get(model).fits(shape) is not None:  # the CIFAR architectures take RGB only
        shape = (3, 32, 32)
    net = create_model(TINY_MODELS.get(model, model), shape, 10, 0)
    assert net(torch.rand(2, *shape)).shape == (2, 10)
    # no normalisation outside the model: an input of zeros is a valid (black) image
    assert torch.isfinite(net(torch.zeros(1, *shape))).all()
