"""FAB's L-inf step: the shortest L-inf move from a point onto a hyperplane, inside [0, 1]^n.

FAB (Croce & Hein, 2020) solves this for every image at every iteration, twice (from the current
iterate and from the original). pyautoattack's `fab_projections.projection_linf` spends most of
its time in `torch.argsort` over each row, and on the MNIST MLP the projection is about half of
FAB-T's time (measured: docs/evaluation.md). `project_linf` solves the same problem, derived
afresh below, with one sort of int64 keys by numpy on the CPU (SIMD sorting) and torch's sort
elsewhere; `tests/test_fab_projection.py` checks it against the library's function, and FAB-T
with it against FAB-T without; `evaluation.autoattack` puts it in FAB's place while FAB runs.

The problem, per row: given t in [0, 1]^n, w and b, find d with w.(t + d) = b, t + d in the box
and ||d||_inf least. Let r = b - w.t and s = sign(r). Coordinate i helps by moving in direction
s * sign(w_i), as far as its room p_i allows (1 - t_i upwards, t_i downwards); moved at most
lam, it brings w.x closer to b by |w_i| min(lam, p_i). So the least lam solves

    f(lam) = sum_i |w_i| min(lam, p_i) = |r|,

f being continuous, nondecreasing and piecewise linear with kinks at the p_i, and then
d_i = s sign(w_i) min(lam, p_i), and d_i = 0 where w_i = 0. Sort the kinks p_(1) <= ... <= p_(n),
each with its weight. At kink j, f = (sum over i <= j of |w_(i)| p_(i)) + p_(j) (sum over i > j of
|w_(i)|); let k be the number of kinks where f < |r| (f is nondecreasing, so a bisection finds
it). lam lies on the segment before kink k + 1, where f is linear:

    lam = (|r| - sum over i <= k of |w_(i)| p_(i)) / (sum over i > k of |w_(i)|).

The library's three cases are values of k: k = 0, nothing clipped (lam = |r| / sum |w_i|); k = n,
the hyperplane out of reach (f(inf) = sum |w_i| p_i <= |r|): lam = inf, every coordinate goes
all the way, to the box's corner nearest the hyperplane; else some coordinates clipped. The
library sums in float32, ours in float64: in float32, on the test's rows, the library's d is up
to ~6e-7 off the exact one and ours ~1.3e-7.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch


def project_linf(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """For each row of `t` [m, n] (points in [0, 1]^n), `w` [m, n] and `b` [m]: the step `d` of
    least L-inf norm with w.(t + d) = b and t + d in [0, 1]^n, or, where none exists, the step
    to the box's corner that brings w.x nearest to b; 0 where w is 0. What pyautoattack's
    `fab_projections.projection_linf(t, w, b)` returns, by another route (module docstring)."""
    t, w, b = t.detach(), w.detach(), b.detach()
    r = b.to(torch.float64) - (w * t).sum(1, dtype=torch.float64)
    # > 0: the coordinate moves up, < 0: down, 0: it stays (w_i = 0, or t on the hyperplane)
    way = w * torch.sign(r).to(w.dtype).unsqueeze(1)
    room = ((way > 0).to(t.dtype) - t).abs_()  # 1 - t up, t down (abs_: -0.0 becomes 0.0)
    lam = _root(*_sorted_pairs(room, w.abs()), r.abs())
    return torch.sign(way) * torch.minimum(lam.to(t.dtype).unsqueeze(1), room)


def _root(kinks: torch.Tensor, weights: torch.Tensor, need: torch.Tensor) -> torch.Tensor:
    """Per row, lam >= 0 with f(lam) = need, inf where f never reaches it (module docstring);
    `kinks` ascending along each row, `weights` in the same order, `need` float64."""
    m, n = kinks.shape
    # float64 copies, then cumsum: cumsum(dtype=float64) of float32 was ~8x slower (torch 2.13)
    below = (kinks * weights).to(need.dtype).cumsum_(1)  # sum over i <= j of |w| p
    seen = weights.to(need.dtype).cumsum_(1)
    total = seen[:, -1:]

    def f(j: torch.Tensor) -> torch.Tensor:  # f at kink j (0-based), j [m, 1]
        return below.gather(1, j) + kinks.gather(1, j) * (total - seen.gather(1, j))

    # k = how many kinks have f < need: the lower bound of a bisection over [0, n]
    lo = torch.zeros(m, 1, dtype=torch.long, device=kinks.device)
    hi = torch.full_like(lo, n)
    for _ in range(math.ceil(math.log2(n + 1))):
        mid = (lo + hi) // 2
        short = f(mid.clamp(max=n - 1)) < need.unsqueeze(1)
        open_ = lo < hi
        lo = torch.where(open_ & short, mid + 1, lo)
        hi = torch.where(open_ & ~short, mid, hi)
    k = lo
    j = (k - 1).clamp(min=0)
    base = torch.where(k > 0, below.gather(1, j), 0)
    slope = torch.where(k > 0, total - seen.gather(1, j), total)
    lam = torch.where(slope > 0, (need.unsqueeze(1) - base) / slope, 0).clamp(min=0)
    return torch.where(k < n, lam, math.inf).squeeze(1)


def _sorted_pairs(room: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`room` sorted ascending along each row, and `weight` in the same order."""
    cpu32 = room.device.type == "cpu" and room.dtype == weight.dtype == torch.float32
    if cpu32 and sys.byteorder == "little":
        # One sort of int64 keys, room's bits above weight's: the bits of floats >= 0 order as
        # their values, and the weight rides along, so no argsort and no gather. numpy sorts
        # int64 with SIMD (x86-simd-sort): 2-3x faster than torch's CPU sort here, while its
        # float32 argsort is slow on the many ties of images (pixels at 0 and 1).
        keys = room.numpy().view(np.int32).astype(np.int64)
        keys <<= 32
        keys |= weight.numpy().view(np.uint32)
        keys.sort(axis=1)
        halves = torch.from_numpy(keys.view(np.float32).reshape(*keys.shape, 2))
        return halves[..., 1], halves[..., 0]  # little-endian: the low half first
    kinks, order = torch.sort(room, dim=1)
    return kinks, weight.gather(1, order)
