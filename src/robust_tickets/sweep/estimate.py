"""Rough time estimates for `sweep --dry-run`, measured here rather than guessed.

For each distinct cost profile (model, attack, adversarial or not, batch size, input shape) a
few real training steps and evaluations are timed with the engine itself on synthetic data of
the dataset's shape, using the sweep's threads per job. A job's time is then
levels x (train_iters x step time + evaluations x evaluated images x time per image).
Fixed costs are cancelled by timing two runs that differ only in what is measured.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Split, Splits
from robust_tickets.data.registry import DATASETS
from robust_tickets.pruning import CRITERIA
from robust_tickets.resolve import replace_fields
from robust_tickets.schedule import level_steps
from robust_tickets.sweep.jobs import Job, eval_images, evaluations_per_level

_STEPS = (4, 24)  # two runs whose difference times 20 training steps
_EVAL_IMAGES = 2000


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


class Estimator:
    """Caches measured rates per cost profile."""

    def __init__(self, threads: int, device: str = "cpu") -> None:
        self.threads, self.device = threads, device
        self._rates: dict[tuple, Rates] = {}

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
            self._rates[key] = self._measure(config, shape, spec.num_classes)
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
                    eval_every=steps,
                    strategy="dense",
                    prune_iters=0,
                    rewind_iter=0,
                    valid_size=n_eval,
                    seed=index,
                )
                splits = Splits(train, split(n_eval), split(0), classes)
                options = RunOptions(
                    output=Path(tmp), quiet=True, threads=self.threads, device=self.device
                )
                began = time.perf_counter()
                run_experiment(probe, options, splits=splits)
                timings.append(time.perf_counter() - began)
        short, long, with_eval = timings[1:]
        step = max(0.0, (long - short) / (_STEPS[1] - _STEPS[0]))
        # two evaluations (iteration 0 and the end) of _EVAL_IMAGES each
        image = max(0.0, (with_eval - short) / (2 * _EVAL_IMAGES))
        return Rates(step, image)
