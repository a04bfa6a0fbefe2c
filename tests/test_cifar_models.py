"""The CIFAR architectures (ResNet-20, PreAct ResNet-18, VGG-16-BN, WideResNet), parametrised
over every registered model with settings: each builds at a tiny width, normalises inside
itself, prunes only convolution and linear weights, trains through `run` with its pruned weights
staying zero, and gets its batch-norm state back after a reset, rewind or random re-init as
open_lth does (the whole state of the point it goes back to)."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import TINY_MODELS as TINY
from tests.conftest import small_config
from torch import nn

from robust_tickets.engine.trial import pruning_rates
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import MODELS, create_model, reinitialise
from robust_tickets.models.cifar import CIFAR10_MEAN, CIFAR10_STD
from robust_tickets.models.ticket import layer_kinds, output_name, prunable_names
from robust_tickets.objectives import OBJECTIVES
from robust_tickets.store import load_tensors

SHAPE = (3, 32, 32)
TINY_MODELS = [*TINY.values(), "resnet20+channels=4+shortcut=A"]
# Parameters at full size and 10 classes (the docstrings' and docs/models.md's numbers)
FULL_COUNTS = {
    "resnet20": 272_474,
    "resnet20+shortcut=A": 269_722,
    "preact-resnet18": 11_172_170,
    "vgg16-bn": 14_724_042,
    "wrn": 36_479_194,
    "wrn+depth=34": 46_160_474,
}


def test_every_model_with_settings_has_a_tiny_one():
    assert {n for n in MODELS.names() if MODELS.get(n).params is not None} == set(TINY)


@pytest.mark.parametrize("name", FULL_COUNTS)
def test_parameter_counts_at_full_size(name):
    spec = MODELS.get(name)
    with torch.device("meta"):  # shapes only: nothing allocated or initialised
        net = spec.build(SHAPE, 10, MODELS.params(name))
    assert sum(p.numel() for p in net.parameters()) == FULL_COUNTS[name]


@pytest.mark.parametrize("name", TINY_MODELS)
def test_builds_tiny_and_gives_logits(name):
    net = create_model(name, SHAPE, 10, seed=0)
    x = torch.rand(4, *SHAPE)
    assert net(x).shape == (4, 10)
    net.eval()
    assert torch.isfinite(net(torch.zeros(1, *SHAPE))).all()  # a black image is a valid input
    assert set(layer_kinds(net).values()) == set(MODELS.get(name).layer_kinds(SHAPE))


@pytest.mark.parametrize("name", TINY_MODELS)
def test_init_is_deterministic_from_the_seed(name):
    a, b, c = (create_model(name, SHAPE, 10, seed=s).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(
        not torch.equal(a[k], c[k]) for k in prunable_names(create_model(name, SHAPE, 10, 0))
    )


@pytest.mark.parametrize("name", TINY_MODELS)
def test_only_conv_and_linear_weights_are_prunable(name):
    net = create_model(name, SHAPE, 10, seed=0)
    modules = dict(net.named_modules())
    names = prunable_names(net)
    for n in names:
        module = modules[n.rpartition(".")[0]]
        assert n.endswith(".weight") and isinstance(module, nn.Conv2d | nn.Linear), n
    norm_params = {
        f"{m}.{p}"
        for m, mod in modules.items()
        if isinstance(mod, nn.BatchNorm2d)
        for p, _ in mod.named_parameters()
    }
    biases = {n for n, _ in net.named_parameters() if n.endswith("bias")}
    assert norm_params and not (norm_params | biases) & set(names)
    # every parameter that is not a BN parameter or a bias is prunable
    assert set(dict(net.named_parameters())) == set(names) | norm_params | biases
    assert output_name(net) == "fc.weight" and layer_kinds(net)["fc.weight"] == "output"
    assert isinstance(modules["fc"], nn.Linear) and modules["fc"].out_features == 10


@pytest.mark.parametrize("name", TINY_MODELS)
def test_normalisation_is_the_first_operation(name):
    net = create_model(name, SHAPE, 10, seed=0).eval()
    seen: dict[str, torch.Tensor] = {}
    first_conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    net.normalize.register_forward_pre_hook(lambda m, i: seen.update(norm=i[0]))
    first_conv.register_forward_pre_hook(lambda m, i: seen.update(conv=i[0]))
    x = torch.rand(2, *SHAPE)
    net(x)
    mean, std = (
        torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1),
        torch.tensor(CIFAR10_STD).view(1, 3, 1, 1),
    )
    assert seen["norm"] is x  # the model receives [0, 1] pixels untouched
    torch.testing.assert_close(seen["conv"], (x - mean) / std)
    # the statistics are part of the model's state (a ticket on disk carries them)
    assert torch.equal(net.state_dict()["normalize.mean"].flatten(), torch.tensor(CIFAR10_MEAN))


@pytest.mark.parametrize("name", TINY_MODELS)
def test_eval_mode_is_deterministic_and_per_image(name):
    net = create_model(name, SHAPE, 10, seed=0)
    net.train()
    net(torch.rand(8, *SHAPE))  # running statistics move away from their initial values
    net.eval()
    x = torch.rand(5, *SHAPE)
    with torch.no_grad():
        first, second, alone = net(x), net(x), net(x[2:3])
    assert torch.equal(first, second)
    torch.testing.assert_close(alone, first[2:3], rtol=1e-4, atol=1e-5)  # no batch statistics


def test_reinitialise_resets_batch_norm_state():
    net = create_model(TINY["resnet20"], SHAPE, 10, seed=0)
    fresh = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net(torch.rand(8, *SHAPE))
    reinitialise(TINY["resnet20"], net, seed=0)
    now = net.state_dict()
    assert all(torch.equal(now[k], fresh[k]) for k in fresh)


def test_model_settings_spelling():
    assert MODELS.canonical("wrn+width=10") == "wrn"  # defaults are dropped: one run
    assert MODELS.canonical("wide-resnet+width=4+depth=16") == "wrn+depth=16+width=4"
    assert MODELS.canonical("resnet20+shortcut=A") == "resnet20+shortcut=A"
    assert MODELS.params("wrn+width=2").width == 2 and MODELS.params("conv2") is None
    assert "wrn+width=2" in MODELS and "nope+width=2" not in MODELS
    for bad in ("wrn+width=x", "wrn+depth=11", "wrn+size=1", "wrn+width", "conv2+width=1"):
        with pytest.raises(UserError):
            MODELS.canonical(bad)
    # names without settings hash as before; defaults spelled out hash as the bare name
    wrn = small_config(dataset="cifar10", model="wrn")
    assert small_config(dataset="cifar10", model="wrn+width=10+depth=28").hash() == wrn.hash()
    assert small_config(dataset="cifar10", model="wrn+width=2").hash() != wrn.hash()
    with pytest.raises(UserError):
        small_config(dataset="fashion_mnist", model="wrn")  # CIFAR architectures want RGB


TINY_RUN = {"train_iters": 4, "eval_every": 2, "prune_iters": 1, "batch_size": 10}


def _run(tmp_path, toy_cifar, model: str, device: str = "cpu", **overrides):
    values = {"dataset": "cifar10", "model": model, "adv_train": True, "attack": "fgsm"}
    config = small_config(**{**TINY_RUN, **values, **overrides})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        options = RunOptions(output=tmp_path, quiet=True, device=device)
        exp, _ = run_experiment(config, options, splits=toy_cifar)
    finally:
        torch.set_num_threads(threads)
    return config, exp.trial(0)


# Each objective with a training attack it is used with (trades crafts its KL attack with pgd's
# settings; natural trains on clean images whatever the attack).
OBJECTIVE_ATTACKS = {"madry": "nfgsm", "mixed": "fgsm-rs", "trades": "pgd", "natural": "pgd"}
NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = pytest.param("cuda", marks=NO_GPU)


def test_the_objective_table_covers_every_registered_objective():
    assert set(OBJECTIVE_ATTACKS) == set(OBJECTIVES.names())


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("objective", sorted(OBJECTIVE_ATTACKS))
@pytest.mark.parametrize("name", TINY_MODELS)
def test_every_model_trains_with_every_objective(tmp_path, toy_cifar, name, objective, device):
    """The run a user starts (`run`'s engine entry), on the CPU and on a GPU when there is one:
    every weight tensor moves and nothing becomes NaN."""
    overrides = {"objective": objective, "attack": OBJECTIVE_ATTACKS[objective], "steps": 2}
    overrides |= {"train_iters": 2, "eval_every": 2, "prune_iters": 0}
    _, trial = _run(tmp_path, toy_cifar, name, device, **overrides)
    ((_, files),) = trial.levels()
    init, final = load_tensors(files.init), load_tensors(files.final)
    weights = [k for k in final if k.endswith("weight") and final[k].dim() > 1]
    assert weights and all(not torch.equal(init[k], final[k]) for k in weights), "did not train"
    assert all(torch.isfinite(v.float()).all() for v in final.values())


@pytest.mark.parametrize("name", TINY_MODELS)
def test_trains_through_run_with_pruned_weights_zero(tmp_path, toy_cifar, name):
    config, trial = _run(tmp_path, toy_cifar, name, prune_method="global", prune_rate=0.5)
    net = create_model(name, SHAPE, 10, 0)
    rates = pruning_rates(config, net)
    levels = trial.levels()
    assert len(levels) == 2
    for level, files in levels:
        masks, init, final = (load_tensors(p) for p in (files.masks, files.init, files.final))
        assert set(init) == set(final) == set(net.state_dict()) and set(masks) == set(rates)
        assert sum(int(m.sum()) for m in masks.values()) == round(
            sum(m.numel() for m in masks.values()) * 0.5**level
        )
        for n, mask in masks.items():
            assert torch.all(final[n][mask == 0] == 0), n  # pruned weights stayed zero
        means = [k for k in final if k.endswith("running_mean")]
        assert means and any(not torch.equal(init[k], final[k]) for k in means)  # BN trained


@pytest.mark.parametrize("strategy", ["reset", "rewind", "random", "continue", "rewind_trained"])
def test_batch_norm_state_after_a_reset_or_rewind(tmp_path, toy_cifar, strategy):
    """Level 1 starts from the whole state (BN affine parameters and running statistics
    included) of the point the strategy goes back to, as open_lth's lottery runner does."""
    _, trial = _run(tmp_path, toy_cifar, TINY["resnet20"], strategy=strategy, rewind_iter=2)
    (_, level0), (_, level1) = trial.levels()
    init0, final0, start1 = (load_tensors(p) for p in (level0.init, level0.final, level1.init))
    masks = load_tensors(level1.masks)
    expected = {
        "reset": init0,
        "rewind": load_tensors(trial.rewind) if strategy == "rewind" else None,
        "continue": final0,
        "rewind_trained": final0,
    }.get(strategy)
    norm = [k for k in start1 if ".bn" in k or k.startswith("bn.") or "shortcut.1." in k]
    assert norm and any(k.endswith("num_batches_tracked") for k in norm)
    if expected is not None:
        for k in start1:
            want = expected[k] * masks[k] if k in masks else expected[k]
            assert torch.equal(start1[k], want), k
    else:  # random: a fresh init, batch norm as freshly built, not the trained statistics
        fresh = create_model(TINY["resnet20"], SHAPE, 10, seed=123).state_dict()
        for k in norm:
            assert torch.equal(start1[k], fresh[k]), k
        assert any(not torch.equal(start1[k], final0[k]) for k in norm)
    if strategy in ("reset", "random"):
        assert all(int(start1[k]) == 0 for k in norm if k.endswith("num_batches_tracked"))
