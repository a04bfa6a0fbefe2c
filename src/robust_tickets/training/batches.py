"""Mini-batch indices: a fresh permutation per epoch, derived from a seed and the epoch number.

Because batch `i` is a pure function of (seed, i), a resumed run draws exactly the batches an
uninterrupted run would, without saving any sampler state.
"""

from __future__ import annotations

import torch

from robust_tickets.seeds import derive


class EpochBatches:
    """Batch `i` = slice `i mod per_epoch` of the permutation of epoch `i // per_epoch`.

    `per_epoch` is n // batch (full batches only) unless given: ceil(n / batch) makes the last
    batch of each epoch short, as Keras's `fit` does (`robust_tickets.schedule`)."""

    def __init__(self, n: int, batch_size: int, seed: int, per_epoch: int | None = None) -> None:
        if batch_size > n:
            raise ValueError("batch larger than the data")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size if per_epoch is None else per_epoch
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def indices(self, iteration: int) -> torch.Tensor:
        epoch, k = divmod(iteration, self.per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(derive(self.seed, "epoch", epoch))
            self._perm = torch.randperm(self.n, generator=generator)
            self._epoch = epoch
        return self._perm[k * self.batch_size : (k + 1) * self.batch_size]
