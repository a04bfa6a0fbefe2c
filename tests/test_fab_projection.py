"""Our L-inf projection of FAB (`evaluation.fab_projection`) against pyautoattack's
`projection_linf`, on random rows and on image-like rows full of ties and zeros, in each of the
three cases (nothing clipped, some clipped, out of reach); and FAB-T through `evaluate_model`
with ours and with the library's, on a small MLP trained on real MNIST: the same per-image
results."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pyautoattack import fab_base, fab_projections
from torch import nn

from robust_tickets.data import Split
from robust_tickets.errors import UserError
from robust_tickets.evaluation import AttackContext, autoattack, presets
from robust_tickets.evaluation.fab_projection import _sorted_pairs, project_linf
from robust_tickets.evaluation.runner import Task, evaluate_model
from robust_tickets.models import create_model

library = fab_projections.projection_linf
N = 784  # MNIST's inputs


def _b(t: torch.Tensor, w: torch.Tensor, reach: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """b at a random distance from w.t on either side, from 0 to 1.5 x `reach` (so some rows
    are out of reach), most of them near."""
    m = len(t)
    side = torch.where(torch.rand(m, generator=g, dtype=t.dtype) < 0.5, -1.0, 1.0)
    return (w * t).sum(1) + side * 1.5 * torch.rand(m, generator=g, dtype=t.dtype) ** 3 * reach


def rows(m: int, seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """(t, w, b): m/4 rows of each kind: random; image-like (pixels at 0 or 1 or k/255, w with
    exact zeros and ties); inside the box's middle with b near (nothing clipped); and edge
    rows (w all zero, b on the hyperplane, one nonzero weight, b far out of reach)."""
    g = torch.Generator().manual_seed(seed)
    q = m // 4
    u = lambda *shape: torch.rand(*shape, generator=g, dtype=dtype)  # noqa: E731
    # random
    t1, w1 = u(q, N), torch.randn(q, N, generator=g, dtype=dtype)
    # image-like: 60% of pixels 0, 15% 1, the rest k/255; w in steps of 1/8, 30% exactly 0
    pick = u(q, N)
    grey = torch.randint(1, 255, (q, N), generator=g).to(dtype) / 255
    t2 = torch.where(pick < 0.6, 0.0, torch.where(pick < 0.75, 1.0, grey)).to(dtype)
    w2 = torch.round(torch.randn(q, N, generator=g, dtype=dtype) * 8) / 8 * (u(q, N) > 0.3)
    inward = slice(0, q // 4)  # w up at pixels at 0, down at 1, b above: nothing at a wall
    w2[inward] = w2[inward].abs() * torch.where(t2[inward] > 0.5, -1, 1)
    # nothing clipped: t in [0.25, 0.75], |r| small enough that lam < 0.25
    t3, w3 = 0.25 + 0.5 * u(q, N), torch.randn(q, N, generator=g, dtype=dtype)
    # edges
    t4, w4 = u(q, N), torch.randn(q, N, generator=g, dtype=dtype)
    t4[: q // 4] = torch.where(u(q // 4, N) < 0.5, 0.0, 1.0)
    w4[: q // 8] = 0  # w all zero: d must be 0
    w4[q // 4 : q // 2] = 0
    w4[q // 4 : q // 2, 3] = 2.5  # one weight: only coordinate 3 moves
    t, w = torch.cat((t1, t2, t3, t4)), torch.cat((w1, w2, w3, w4))
    box = torch.where(w > 0, 1 - t, t) * w.abs()  # the most each coordinate can add or take
    b = torch.cat(
        (
            _b(t1, w1, box[:q].sum(1), g),
            _b(t2, w2, box[q : 2 * q].sum(1), g),
            (w3 * t3).sum(1) + (u(q) - 0.5) * 0.4 * w3.abs().sum(1),
            _b(t4, w4, box[3 * q :].sum(1), g),
        )
    )
    # image-like, nothing clipped: lam < 0.003, below the least room of a grey pixel (1/255)
    b[q : q + q // 4] = (w * t).sum(1)[q : q + q // 4] + u(q // 4) * 0.003 * w2[inward].abs().sum(1)
    b[3 * q + q // 2 : 3 * q + 5 * q // 8] = (w * t).sum(1)[3 * q + q // 2 : 3 * q + 5 * q // 8]
    far = slice(3 * q + 5 * q // 8, 4 * q)  # beyond any corner: out of reach
    b[far] = (w * t).sum(1)[far] + torch.where(u(len(b[far])) < 0.5, -1, 1) * (
        w[far].abs().sum(1) + 1
    )
    return t, w, b


def cases(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Which rows are in which of the three cases, from the definitions (float64)."""
    t, w, b = t.double(), w.double(), b.double()
    r = b - (w * t).sum(1)
    up = w * r.unsqueeze(1) > 0
    room = torch.where(up, 1 - t, t)
    reach = (w.abs() * room).sum(1)
    least = torch.where(w != 0, room, torch.inf).amin(1)
    out = reach <= r.abs()
    unclipped = ~out & (least * w.abs().sum(1) >= r.abs())
    return {"unclipped": unclipped, "clipped": ~out & ~unclipped, "out of reach": out}


def test_the_rows_cover_each_case_and_kind():
    t, w, b = rows(400, seed=0)
    counts = {name: int(mask.sum()) for name, mask in cases(t, w, b).items()}
    assert min(counts.values()) >= 30, counts
    image_like = cases(*(x[100:200] for x in (t, w, b)))
    assert all(int(mask.sum()) >= 5 for mask in image_like.values()), image_like


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ours_is_the_librarys_projection_in_float64(seed):
    t, w, b = rows(400, seed)
    ours, theirs = project_linf(t, w, b), library(t, w, b)
    for case, mask in cases(t, w, b).items():  # case by case: a failure names the case
        close = torch.isclose(ours[mask], theirs[mask], atol=1e-10, rtol=0).all(1)
        assert close.all(), f"{case}: {int((~close).sum())} of {len(close)} rows differ"
    torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=0)
    assert (ours[w == 0] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ours_is_the_librarys_projection_in_float32(seed):
    """What FAB runs. Both are within 1e-6 of the float64 answer (the library ~6e-7 off it
    here, with float32 sums; ours ~1.3e-7, with float64 sums), and of each other."""
    t, w, b = rows(400, seed)
    exact = library(t, w, b)
    t, w, b = t.float(), w.float(), b.float()
    ours = project_linf(t, w, b)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), exact, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours, library(t, w, b), atol=1e-6, rtol=0)
    assert (ours[w == 0] == 0).all()


def test_the_step_lands_on_the_hyperplane_inside_the_box_or_goes_all_the_way():
    t, w, b = rows(400, seed=3)
    d = project_linf(t, w, b)
    x = t + d
    assert x.min() >= -1e-12 and x.max() <= 1 + 1e-12
    which = cases(t, w, b)
    reachable = ~which["out of reach"]
    torch.testing.assert_close((w * x).sum(1)[reachable], b[reachable], atol=1e-9, rtol=0)
    corner = torch.where(w * (b - (w * t).sum(1)).unsqueeze(1) > 0, 1.0, 0.0).double()
    out = which["out of reach"]
    moves = w[out] != 0
    assert torch.equal(x[out][moves], corner[out][moves])
    # nothing clipped: every coordinate that moves, moves by the same lam
    free = which["unclipped"]
    size = d[free].abs().amax(1, keepdim=True)
    assert torch.allclose(d[free].abs()[w[free] != 0], size.expand_as(d[free])[w[free] != 0])


def test_numpys_sorted_pairs_are_the_rows_pairs_in_order_of_room():
    g = torch.Generator().manual_seed(0)
    room = torch.where(torch.rand(50, N, generator=g) < 0.5, 0.0, torch.rand(50, N, generator=g))
    room[:, :100] = 1.0
    weight = torch.rand(50, N, generator=g).round(decimals=1)  # ties, and exact zeros
    kinks, weights = _sorted_pairs(room, weight)  # float32 on the CPU: numpy's int64 sort
    assert torch.equal(kinks, torch.sort(room, dim=1).values)

    def lexicographic(r: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        by_w = torch.sort(w, dim=1, stable=True).indices
        r, w = r.gather(1, by_w), w.gather(1, by_w)
        by_r = torch.sort(r, dim=1, stable=True).indices
        return r.gather(1, by_r), w.gather(1, by_r)

    # each row's (room, weight) pairs, the same ones
    for got, want in zip(lexicographic(kinks, weights), lexicographic(room, weight), strict=True):
        assert torch.equal(got, want)


# ---- FAB-T end to end ----------------------------------------------------------------------
def _train(splits, seed: int = 1, steps: int = 200) -> nn.Module:
    model = create_model("dense-300-100", (1, 28, 28), 10, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(splits.train), (100,), generator=generator)
        loss = F.cross_entropy(model(splits.train.x[index]), splits.train.y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def mlp(mnist) -> nn.Module:
    return _train(mnist)


def test_fab_t_gives_the_same_per_image_results_with_our_projection(mnist, mlp, monkeypatch):
    """The evaluate path (`evaluate_model`, the stored entries' keys included) with ours and with
    ``ROBUST_TICKETS_FAB_PROJECTION=library``. FAB's points may differ by rounding (its iterates
    sit on the decision boundary); what is stored, whether each image resists, must not."""
    test = Split(mnist.test.x[:150], mnist.test.y[:150])
    tasks = [Task("fab-t", eps, "curve") for eps in (0.03, 0.06)]
    chosen = presets({"fab_steps": 25})
    calls: list[int] = []

    def counted(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append(len(t))
        return project_linf(t, w, b)

    monkeypatch.setattr(autoattack, "project_linf", counted)

    def evaluate() -> dict:
        seed = lambda group, eps, start: 7 + start  # noqa: E731
        return evaluate_model(mlp, test, tasks, AttackContext(10), seed, chosen=chosen)

    monkeypatch.delenv(autoattack.FAB_PROJECTION, raising=False)
    ours = evaluate()
    assert calls and fab_base.projection_linf is library  # ours ran, and the library's is back
    monkeypatch.setenv(autoattack.FAB_PROJECTION, "library")
    calls.clear()
    theirs = evaluate()
    assert not calls
    assert ours.keys() == theirs.keys()
    for key, entry in ours.items():
        assert torch.equal(entry.robust, theirs[key].robust), key
        assert 0 < int(entry.robust.sum()) < len(test) * 0.9, key  # FAB-T broke some, not all


def test_the_switch_is_checked_and_the_library_put_back_after_an_error(monkeypatch):
    monkeypatch.setenv(autoattack.FAB_PROJECTION, "fast")
    with pytest.raises(UserError, match="ROBUST_TICKETS_FAB_PROJECTION must be"):
        autoattack.fab_projection()
    with pytest.raises(RuntimeError), autoattack._fab_projection("ours"):
        assert fab_base.projection_linf is project_linf
        raise RuntimeError
    assert fab_base.projection_linf is library
