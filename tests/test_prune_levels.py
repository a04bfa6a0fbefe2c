"""`prune_levels`: a trial that visits only some levels of the pruning schedule (the paper's
table sparsities in five rounds instead of eighteen)."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.config import parse_levels
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.errors import UserError
from robust_tickets.progress import Progress
from robust_tickets.resolve import from_flat
from robust_tickets.schedule import num_levels
from robust_tickets.store import experiment_dir, load_tensors, read_json


def test_prune_levels_set_the_count_and_stay_out_of_old_identities():
    config = from_flat({"prune_levels": "3, 8,11"})
    assert config.prune.prune_levels == "3,8,11" and config.prune.prune_iters == 3
    assert config.prune.schedule_levels == (3, 8, 11) and num_levels(config) == 4
    # what prune_iters said is replaced by the count; the default keeps every old hash
    assert from_flat({"prune_levels": "3,8,11", "prune_iters": 18}) == config
    assert from_flat({}).prune.schedule_levels == tuple(range(1, 21))
    assert from_flat({"prune_levels": ""}).hash() == from_flat({}).hash()
    assert config.hash() != from_flat({"prune_iters": 3}).hash()
    # the dense baseline never prunes: the setting goes with the pruning
    assert from_flat({"strategy": "dense", "prune_levels": "3"}) == from_flat({"strategy": "dense"})


@pytest.mark.parametrize("text", ["3,3", "8,3", "0,2", "2,x", ""])
def test_bad_prune_levels_are_refused(text):
    if not text:
        assert from_flat({"prune_levels": text}).prune.prune_iters == 20  # empty: every level
        return
    with pytest.raises(ValueError):
        parse_levels(text)
    with pytest.raises(UserError, match="prune_levels"):
        from_flat({"prune_levels": text})


@pytest.mark.parametrize("one_shot", [False, True])
def test_each_level_keeps_what_its_schedule_level_keeps(tmp_path, fashion, one_shot):
    """Level k of a run with prune_levels L keeps exactly the weights that level L[k-1] of the
    plain schedule keeps, layer by layer, iterative or one-shot."""
    config = small_config(
        train_iters=4, eval_every=4, prune_levels="2,5", one_shot=one_shot, valid_size=500
    )
    exp = experiment_dir(tmp_path, config)
    TrialRunner(config, exp, 0, fashion, torch.device("cpu"), Progress(1, quiet=True)).run()
    full = small_config(prune_iters=5)
    rates = {"fc": 0.2, "output": 0.1}
    for level, schedule_level in ((1, 2), (2, 5)):
        masks = load_tensors(exp.trial(0).level(level).masks)
        for name, mask in masks.items():
            rate = rates["output"] if mask.shape[0] == 10 else rates["fc"]
            assert int(mask.sum()) == round(mask.numel() * (1 - rate) ** schedule_level), name
        assert read_json(exp.trial(0).level(level).info)["level"] == level
    assert num_levels(config) == 3 and num_levels(full) == 6
