"""The CIFAR augmentation (He et al. 2016): random crop after zero-padding, random horizontal
flip, done on a whole batch of tensors at once.

`random_crop_flip` draws every image's offsets and flip from a seeded `torch.Generator` (one
draw of each kind for the whole batch, in a fixed order), builds the row and column indices of
every crop, flips the column indices of the flipped images and gathers all crops with one
indexing operation: no Python loop over images, so its cost is a few tensor operations whatever
the batch size, on the CPU or the GPU.

The `augment` setting of a run names one of `AUGMENTS`; the level loop's `BatchFeed` applies it
to every training batch (`augment_batch`) before the stepper, so the attack sees the augmented
images, with a generator seeded from (trial, level, step): a resumed level augments batch i as
an uninterrupted one would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True
) -> torch.Tensor:
    """Each image of `x` [N, C, H, W] (any dtype) zero-padded by `pad` pixels on every side,
    cropped back to H x W at a uniformly drawn offset (0..2*pad each way), and mirrored
    left-right with probability 1/2 if `flip`; returns a new tensor [N, C, H, W].

    Draws, from `generator` (on its own device), N row offsets, N column offsets, then N flips:
    the same generator state gives the same batch."""
    if x.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {list(x.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    n, c, h, w = x.shape
    draw = generator.device
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=draw).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=draw).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = dy[:, None] + torch.arange(h, device=x.device)  # [N, H]
    cols = dx[:, None] + torch.arange(w, device=x.device)  # [N, W]
    if flip:
        mirrored = torch.randint(0, 2, (n,), generator=generator, device=draw).to(x.device)
        cols = torch.where(mirrored.bool()[:, None], cols.flip(1), cols)
    images = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[images, channels, rows[:, None, :, None], cols[:, None, None, :]]


AUGMENTS = ("none", "crop-flip")
PAD = 4  # CIFAR's standard: up to 4 pixels of shift each way
MIN_SIDE = 4 * PAD  # below this a 4-pixel shift moves a quarter of the image or more


def unfit(augment: str, image_shape: tuple[int, ...]) -> str | None:
    """Why `augment` makes no sense on images of `image_shape` (C, H, W), or None."""
    if augment == "none":
        return None
    if len(image_shape) != 3:
        return f"needs images [C, H, W], the data is {list(image_shape)}"
    if min(image_shape[1:]) < MIN_SIDE:
        side = "x".join(map(str, image_shape[1:]))
        return f"shifts up to {PAD} pixels, too much for {side} images (needs >= {MIN_SIDE})"
    return None


def augment_batch(augment: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The training batch `x` [N, C, H, W] under the augmentation `augment` (`x` itself for
    `none`)."""
    if augment == "none":
        return x
    if augment == "crop-flip":
        return random_crop_flip(x, generator, pad=PAD, flip=True)
    raise ValueError(f"unknown augmentation {augment!r}: one of {', '.join(AUGMENTS)}")
