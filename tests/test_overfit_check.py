"""The catastrophic-overfitting check (engine/callbacks.py `OverfitCheck`, `co_check`): it fires
on a drop, acts as `co_action` says, survives a resume, and never changes what training does."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from robust_tickets.engine.callbacks import OverfitCheck
from robust_tickets.engine.loop import train_level
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.progress import Progress
from robust_tickets.resolve import from_flat
from robust_tickets.store import experiment_dir, load_tensors, read_json
from robust_tickets.training.checkpoint import LevelState, load_checkpoint, save_checkpoint

# PGD accuracy after each checked step: best 0.7 at step 4, then a collapse at step 6
ACCURACY = {2: 0.5, 4: 0.7, 6: 0.3, 8: 0.1, 10: 0.2}


class _Interrupted(Exception):
    pass


def _level(action: str, state: LevelState | None = None, model=None, interrupt_at: int = -1):
    """A level of 10 steps whose weight after s steps is s, checked every 2 steps against
    ACCURACY; `interrupt_at`: killed before that step."""
    total = 10
    model = model if model is not None else nn.Linear(2, 2, bias=False)
    warnings: list[str] = []
    check = OverfitCheck(
        model,
        lambda step: ACCURACY[step],
        every=2,
        total=total,
        per_epoch=4,
        drop=0.2,
        action=action,
        warn=warnings.append,
    )
    resumed = state is not None
    state = state if resumed else LevelState(iteration=0, rows=[])

    def step(i: int) -> None:
        if i == interrupt_at:
            raise _Interrupted
        with torch.no_grad():
            model.weight.fill_(i + 1)

    with contextlib.suppress(_Interrupted):
        train_level(state, total, step, [check], resumed)
    return model, state, check, warnings


def test_it_warns_once_and_leaves_the_weights_alone_by_default():
    model, state, check, warnings = _level("warn")
    assert state.iteration == 10 and len(warnings) == 1
    assert "0.300 at step 6" in warnings[0] and "best 0.700 at step 4" in warnings[0]
    record = state.extras["co"]
    assert [c["step"] for c in record["checks"]] == [2, 4, 6, 8, 10]
    assert record["best"]["step"] == 4 and record["fired"]["step"] == 6
    assert record["checks"][2]["epoch"] == 1.5  # 6 steps of 4 an epoch
    assert not state.tensors  # nothing kept: nothing will be restored
    assert check.finish(state) == {"step": 10, "epoch": 2.5, "from": "end"}
    assert (model.weight == 10).all()


def test_restore_trains_on_and_ends_with_the_best_checks_weights():
    model, state, check, warnings = _level("restore")
    assert state.iteration == 10 and len(warnings) == 1
    assert check.finish(state) == {"step": 4, "epoch": 1.0, "from": "best_check"}
    assert (model.weight == 4).all()
    assert state.extras["co"]["final_weights"]["step"] == 4


def test_stop_ends_the_level_at_the_drop_with_the_best_checks_weights():
    model, state, check, warnings = _level("stop")
    assert state.iteration == 6 and "stopping" in warnings[0]
    assert check.finish(state)["step"] == 4 and (model.weight == 4).all()


def test_without_a_drop_it_keeps_the_last_weights():
    global ACCURACY
    saved, ACCURACY = ACCURACY, {2: 0.5, 4: 0.7, 6: 0.6, 8: 0.65, 10: 0.55}
    try:
        model, state, check, warnings = _level("restore")
    finally:
        ACCURACY = saved
    assert not warnings and state.extras["co"]["fired"] is None
    assert check.finish(state)["from"] == "end" and (model.weight == 10).all()


def test_its_record_and_best_weights_resume_from_the_checkpoint(tmp_path):
    """Stopped after step 5 (the checkpoint holds the best weights of step 4), resumed: the same
    record and the same restored weights as a level never interrupted."""
    whole, whole_state, whole_check, _ = _level("restore")
    whole_check.finish(whole_state)
    model, state, _, _ = _level("restore", interrupt_at=5)
    assert state.iteration == 5 and state.extras["co"]["best"]["step"] == 4
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator()
    save_checkpoint(tmp_path / "checkpoint.safetensors", model, optimizer, generator, state)
    fresh = nn.Linear(2, 2, bias=False)
    loaded = load_checkpoint(
        tmp_path / "checkpoint.safetensors",
        fresh,
        torch.optim.SGD(fresh.parameters(), lr=0.1),
        generator,
    )
    assert loaded.extras == state.extras and loaded.tensors.keys() == state.tensors.keys()
    resumed, resumed_state, check, _ = _level("restore", state=loaded, model=fresh)
    check.finish(resumed_state)
    assert resumed_state.extras == whole_state.extras
    assert torch.equal(resumed.weight, whole.weight)


def _run(tmp_path, splits, **values):
    base = {"train_iters": 12, "eval_every": 6, "prune_iters": 1, "batch_size": 50}
    config = from_flat({**base, "adv_train": True, **values})
    exp = experiment_dir(tmp_path, config)
    TrialRunner(config, exp, 0, splits, torch.device("cpu"), Progress(1, quiet=True)).run()
    return config, exp.trial(0)


def test_a_run_with_the_check_trains_exactly_as_one_without(tmp_path, toy_fashion):
    plain_config, plain = _run(tmp_path, toy_fashion)
    config, checked = _run(tmp_path, toy_fashion, co_check=True, co_every=4)
    assert config.hash() != plain_config.hash()
    for level in (0, 1):
        assert load_tensors(checked.level(level).final).keys()
        for name, value in load_tensors(plain.level(level).final).items():
            assert torch.equal(load_tensors(checked.level(level).final)[name], value)
        record = read_json(checked.level(level).path / "co.json")
        assert [c["step"] for c in record["checks"]] == [4, 8, 12]
        assert all(0 <= c["pgd_acc"] <= 1 for c in record["checks"])
        done = read_json(checked.level(level).done)
        assert done["final_weights"] == {"step": 12, "epoch": 1.0, "from": "end"}
        assert "final_weights" not in read_json(plain.level(level).done)


def test_restore_in_a_run_saves_the_best_checks_weights(tmp_path, toy_fashion):
    """A drop threshold any fall passes makes `restore` act whenever the last check is not the
    best; the weights saved are then those a run cut at the best check's step ends with."""
    values = {"eps": 0.05}  # PGD accuracy falls (from a chance level) as it trains
    flags = {"co_check": True, "co_every": 2, "co_drop": 1e-9, "co_action": "restore"}
    _, trial = _run(tmp_path / "checked", toy_fashion, **values, **flags)
    record = read_json(trial.level(0).path / "co.json")
    done = read_json(trial.level(0).done)
    assert record["fired"] is not None  # the case tested did happen
    best = record["best"]["step"]
    assert best < 12  # an epoch is 600 / 50 = 12 steps
    assert done["final_weights"] == {
        "step": best,
        "epoch": round(best / 12, 3),
        "from": "best_check",
    }
    assert {r["split"] for r in done["final_weights_eval"]} == {"valid", "test"}
    _, cut = _run(tmp_path / "cut", toy_fashion, **values, stop_step=best, prune_iters=0)
    restored, expected = load_tensors(trial.level(0).final), load_tensors(cut.level(0).final)
    assert all(torch.equal(restored[k], v) for k, v in expected.items())


def test_the_checks_settings_split_no_identity_while_it_is_off():
    assert from_flat({"co_every": 7, "co_action": "stop"}) == from_flat({})
    on = from_flat({"co_check": True})
    assert on.hash() != from_flat({}).hash()
    assert from_flat({"co_check": True, "co_action": "restore"}).hash() != on.hash()
