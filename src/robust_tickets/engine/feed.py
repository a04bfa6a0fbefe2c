"""A level's training steps: batch i gathered from the training set, augmented if the run says
so, and given to its stepper."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks import Attack
from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Split
from robust_tickets.data.augment import augment_batch
from robust_tickets.seeds import derive
from robust_tickets.training import make_stepper
from robust_tickets.training.batches import EpochBatches


class BatchFeed:
    """`step(i, generator)` trains on batch i of `batches`. A stepper per batch size is built on
    first use, after the level's weights and any checkpointed optimizer state are loaded (the
    keras loop's short last batch gets one of its own).

    With `config.train.augment` set, batch i is augmented (on the device) with a generator seeded
    from (`augment_seed`, i) alone, so a resumed level augments it as an uninterrupted one would
    and no generator state needs checkpointing; the attack then sees the augmented batch."""

    def __init__(
        self,
        model: nn.Module,
        masks: dict[str, torch.Tensor],
        optimizer,
        config: ExperimentConfig,
        attack: Attack,
        train: Split,
        batches: EpochBatches,
        device: torch.device,
        augment_seed: int = 0,
    ) -> None:
        self.model, self.masks, self.optimizer = model, masks, optimizer
        self.augment, self.augment_seed = config.train.augment, augment_seed
        self.config, self.attack, self.batches, self.device = config, attack, batches, device
        self.y, self.image_shape = train.y, train.x.shape[1:]
        self.flat_x = train.x.reshape(len(train.x), -1)  # index_select on rows: the cheapest
        self.feeds: dict[int, tuple] = {}  # batch size -> (stepper, input buffer)

    def _feed(self, size: int) -> tuple:
        if size not in self.feeds:
            stepper = make_stepper(
                self.model, self.masks, self.optimizer, self.config, self.attack, size
            )
            # a stepper may offer its own input buffer: the batch is gathered straight into it
            buffer = getattr(stepper, "images", None)
            if buffer is None or buffer.device != self.flat_x.device:
                buffer = self.flat_x.new_empty(size, self.flat_x.shape[1])
            self.feeds[size] = (stepper, buffer)
        return self.feeds[size]

    def step(self, iteration: int, generator: torch.Generator) -> None:
        index = self.batches.indices(iteration)
        stepper, buffer = self._feed(len(index))
        y = torch.index_select(self.y, 0, index).to(self.device, non_blocking=True)
        x = torch.index_select(self.flat_x, 0, index, out=buffer).view(-1, *self.image_shape)
        x = x.to(self.device, non_blocking=True)
        if self.augment != "none":  # a new tensor: a stepper's own buffer is refilled from it
            draws = torch.Generator().manual_seed(derive(self.augment_seed, iteration))
            x = augment_batch(self.augment, x, draws)
        stepper.step(x, y, generator)
