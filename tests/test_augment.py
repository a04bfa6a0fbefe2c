"""Batched random crop (pad 4) and horizontal flip: every output is a crop of its own padded
image, flips are exact mirrors, a seed fixes the batch, and the work does not grow with a Python
loop over images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from robust_tickets.data.augment import random_crop_flip


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _crop_of(out: torch.Tensor, image: torch.Tensor, pad: int) -> tuple[int, int, bool] | None:
    """The (row, column, flipped) crop of `image` padded by `pad` that `out` equals."""
    padded = F.pad(image, (pad, pad, pad, pad))
    h, w = image.shape[-2:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            for flipped, candidate in ((False, crop), (True, crop.flip(-1))):
                if torch.equal(out, candidate):
                    return dy, dx, flipped
    return None


def test_every_output_is_a_crop_of_its_padded_image():
    x = _images(64)
    out = random_crop_flip(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    found = [_crop_of(out[i], x[i], 4) for i in range(len(x))]
    assert all(f is not None for f in found)
    # the offsets and flips vary across the batch (64 draws of 81 offsets, 2 flips)
    assert len({f[:2] for f in found if f}) > 20 and {f[2] for f in found if f} == {False, True}
    # some crops reach the zero padding, none leaves it
    assert (out == 0).any() and out.min() >= 0 and out.max() <= 1


def test_flip_is_an_exact_mirror_and_pad_zero_crops_nothing():
    x = _images(32)
    out = random_crop_flip(x, torch.Generator().manual_seed(2), pad=0)
    flipped = [bool(torch.equal(out[i], x[i].flip(-1))) for i in range(len(x))]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(len(x))]
    assert all(f != k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
    assert torch.equal(random_crop_flip(x, torch.Generator(), pad=0, flip=False), x)


def test_the_same_generator_gives_the_same_batch():
    x = _images(16)
    a = random_crop_flip(x, torch.Generator().manual_seed(7))
    b = random_crop_flip(x, torch.Generator().manual_seed(7))
    c = random_crop_flip(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # uint8 images (the stored form) give the same crops as their float values
    u8 = (x * 255).round().to(torch.uint8)
    same = random_crop_flip(u8, torch.Generator().manual_seed(7)).float()
    assert torch.equal(same, random_crop_flip(u8.float(), torch.Generator().manual_seed(7)))


class _CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def test_the_number_of_tensor_operations_does_not_grow_with_the_batch():
    counts = []
    for n in (2, 200):
        with _CountOps() as mode:
            random_crop_flip(_images(n), torch.Generator().manual_seed(0))
        counts.append(mode.calls)
    assert counts[0] == counts[1]  # no per-image Python loop


@pytest.mark.parametrize("bad", [torch.rand(3, 32, 32), torch.rand(2, 3, 32)])
def test_refuses_other_shapes(bad):
    with pytest.raises(ValueError, match="N, C, H, W"):
        random_crop_flip(bad, torch.Generator())
