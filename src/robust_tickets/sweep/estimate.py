"""Rough time estimates for `sweep --dry-run`, measured here rather than guessed.

For each distinct cost profile (model, attack, adversarial or not, batch size, input shape) a
few real training steps and evaluations are timed with the engine itself on synthetic data of
the dataset's shape, using the sweep's threads per job, on the sweep's device (`--device cuda`:
this machine's GPU). A job's time is then
levels x (train_iters x step time + evaluations x evaluated images x time per image).
Fixed costs are cancelled by timing two runs that differ only in what is measured.

`--device cuda` on a machine without a CUDA GPU cannot be timed: the rates are then computed
from the model's FLOP count at an assumed GPU throughput (`ASSUMED_GPU_FLOPS`), and the dry run
says so (`Estimator.basis`).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Split, Splits
from robust_tickets.data.registry import DATASETS
from robust_tickets.models.registry import create_model
from robust_tickets.pruning import CRITERIA
from robust_tickets.resolve import replace_fields
from robust_tickets.schedule import level_steps
from robust_tickets.sweep.jobs import Job, eval_images, evaluations_per_level

_STEPS = (4, 24)  # two runs whose difference times 20 training steps
_EVAL_IMAGES = 2000
# The sustained rate assumed for a GPU that is not here to time (FLOP/s): about a third of a
# data-centre GPU's dense TF32 peak (an A100's 156 TFLOP/s), which is what PyTorch's fp32
# convolutions use by default; small models reach far less (kernel launches dominate).
ASSUMED_GPU_FLOPS = 50e12


@dataclass(frozen=True)
class Rates:
    step: float  # seconds per training iteration
    image: float  # seconds per evaluated image (natural + attacked)


def job_seconds(job: Job, rates: Rates) -> float:
    c = job.config
    per_level = level_steps(c) * rates.step
    per_level += evaluations_per_level(c) * eval_images(c) * rates.image
    # a criterion that trains (HYDRA's score phase) or takes gradients (SNIP) before each
    # pruned level: each of its steps costs about a training step
    pruning = CRITERIA.get(c.prune.criterion).steps() * rates.step
    return job.levels * per_level + max(0, job.levels - 1) * pruning


def forward_flops(model: torch.nn.Module, image_shape: tuple[int, ...]) -> float:
    """FLOPs of one image's forward pass through `model`'s convolutions and linear layers
    (2 per multiply-add; normalisation, activations and pooling are left out: a few %)."""
    total = 0.0

    def count(module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += 2.0 * output[0].numel() * fan_in
        elif isinstance(module, torch.nn.Linear):
            total += 2.0 * module.in_features * module.out_features

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((1, *image_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def flop_rates(config: ExperimentConfig, forward: float) -> Rates:
    """Rates from `forward` FLOPs per image at `ASSUMED_GPU_FLOPS`: a gradient pass (forward +
    backward) costs 3 forward passes; a training step makes the attack's gradient passes and
    one per loss term (two for `mixed` and `trades`: natural and adversarial); an evaluated
    image one forward pass clean, the attack's passes and one forward pass attacked."""
    from robust_tickets.attacks import make_attack

    attack_passes = make_attack(config.attack).passes
    t = config.train
    losses = 2 if t.objective.name in ("mixed", "trades") else 1
    step_passes = (attack_passes if t.adv_train else 0) + losses
    step = t.batch_size * 3 * forward * step_passes / ASSUMED_GPU_FLOPS
    image = (2 + 3 * attack_passes) * forward / ASSUMED_GPU_FLOPS
    return Rates(step, image)


class Estimator:
    """Caches measured rates per cost profile (computed from FLOPs where the device asked for
    is a GPU this machine lacks)."""

    def __init__(self, threads: int, device: str = "cpu") -> None:
        self.threads, self.device = threads, device
        self._rates: dict[tuple, Rates] = {}
        self.timed = not (device.startswith("cuda") and not torch.cuda.is_available())
        self._forward: dict[str, float] = {}  # FLOPs per image by model, for `basis`

    def basis(self) -> str:
        """How the estimate was made, for the dry run's summary line."""
        if not self.timed:
            models = ", ".join(f"{m} {f / 1e9:.2f} GFLOP" for m, f in self._forward.items())
            return (
                f"on a GPU, NOT timed (--device {self.device}, but no CUDA GPU here): computed "
                f"from forward FLOPs per image ({models}; a backward pass 2x) at an assumed "
                f"{ASSUMED_GPU_FLOPS / 1e12:g} TFLOP/s sustained; a real GPU may take several "
                "times more or less"
            )
        if self.device.startswith("cuda"):
            name = torch.cuda.get_device_name(torch.device(self.device))
            return f"timed on this machine's GPU ({name}, --device {self.device}), synthetic data"
        return f"at {self.threads} thread(s) per job on this machine (timed with synthetic data)"

    def rates(self, config: ExperimentConfig) -> Rates:
        spec = DATASETS.get(config.data.dataset)
        shape = spec.files["train_images"].shape[1:]
        a, t = config.attack, config.train
        key = (
            config.model.model,
            a.attack,
            t.adv_train,
            t.batch_size,
            shape,
        )  # attack: its settings too
        if key not in self._rates:
            if self.timed:
                self._rates[key] = self._measure(config, shape, spec.num_classes)
            else:
                name = config.model.model
                if name not in self._forward:
                    image_shape = (1, *shape) if len(shape) == 2 else tuple(shape)
                    model = create_model(name, image_shape, spec.num_classes, seed=0)
                    self._forward[name] = forward_flops(model, image_shape)
                self._rates[key] = flop_rates(config, self._forward[name])
        return self._rates[key]

    def seconds(self, job: Job) -> float:
        return job_seconds(job, self.rates(job.config))

    def _measure(self, config: ExperimentConfig, shape: tuple, classes: int) -> Rates:
        from robust_tickets.experiment import RunOptions, run_experiment

        image_shape = (1, *shape) if len(shape) == 2 else tuple(shape)
        generator = torch.Generator().manual_seed(0)

        def split(n: int) -> Split:
            x = torch.rand((n, *image_shape), generator=generator)
            return Split(x, torch.randint(0, classes, (n,), generator=generator))

        train = split(max(4 * config.train.batch_size, 256))
        timings = []
        with tempfile.TemporaryDirectory() as tmp:
            # a warm-up (lazy initialisation, caches), then the three timed runs
            runs = [(_STEPS[0], 0)] + [(steps, 0) for steps in _STEPS] + [(_STEPS[0], _EVAL_IMAGES)]
            for index, (steps, n_eval) in enumerate(runs):
                probe = replace_fields(
                    config,
                    train_iters=steps,
                    train_epochs=0.0,  # else the epochs would set the probe's length
                    # the keras loop counts whole epochs of the data (none of the probe's few
                    # steps) and a stop would cut them: per step both loops cost the same
                    train_loop="steps",
                    stop_step=0,
                    eval_every=steps,
                    strategy="dense",
                    prune_iters=0,
                    rewind_iter=0,
                    valid_size=n_eval,
                    seed=index,
                )
                splits = Splits(train, split(n_eval), split(0), classes)
                options = RunOptions(  # timed: every probe trains, none borrows
                    output=Path(tmp),
                    quiet=True,
                    threads=self.threads,
                    device=self.device,
                    borrow_level0=False,
                )
                began = time.perf_counter()
                run_experiment(probe, options, splits=splits)
                timings.append(time.perf_counter() - began)
        short, long, with_eval = timings[1:]
        step = max(0.0, (long - short) / (_STEPS[1] - _STEPS[0]))
        # two evaluations (iteration 0 and the end) of _EVAL_IMAGES each
        image = max(0.0, (with_eval - short) / (2 * _EVAL_IMAGES))
        return Rates(step, image)
