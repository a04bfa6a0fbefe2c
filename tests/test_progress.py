"""Feedback on long work: the run's bar counts evaluations as work (an honest ETA), and a pool of
trials shows each trial's level, % of weights left and accuracy."""

from __future__ import annotations

import pytest

from robust_tickets.engine.pool import trial_status
from robust_tickets.progress import Progress, Work, eval_cost
from robust_tickets.schedule import LevelSchedule
from robust_tickets.store import ExperimentDir, write_json, write_metrics


def _simulate(work: Work, levels: int, progress: Progress) -> list[tuple[float, float]]:
    """Run `levels` levels as TrialRunner does (an evaluation after each of the schedule's
    points, 0 being before training; one `advance` per step), where a step takes 1 s and an
    evaluation `eval_cost` s. Returns (fraction of the time spent, fraction on the bar) at
    every step."""
    clock, seen = 0.0, []
    total_time = levels * work.level()
    points = set(work.points)
    for _ in range(levels):
        clock += work.eval_cost if 0 in points else 0.0
        for i in range(1, work.steps + 1):
            clock += 1.0
            progress.advance()
            seen.append((clock / total_time, progress.done() / progress.bar.total))
            clock += work.eval_cost if i in points else 0.0
    return seen


def _schedule(loop: str, train_iters: int, eval_every: int, n: int = 50_000) -> LevelSchedule:
    return LevelSchedule(loop, n, 60, train_iters, eval_every)


@pytest.mark.parametrize(
    "loop, train_iters, eval_every",
    [("steps", 50, 500), ("steps", 400, 100), ("steps", 30, 7), ("keras", 3000, 500)],
)
def test_the_bar_is_the_share_of_time_spent_when_evaluations_are_weighed(
    loop, train_iters, eval_every
):
    """LeNet-5, 2 x 50 steps, each evaluation on 10k + 10k examples: 83 s, nearly all spent
    evaluating, opened with an ETA of 22 minutes. Weighed, the bar is the share of the time
    spent after every step (each evaluation is counted by the step that follows it), so the
    ETA is right from the first step on, as far as the cost model is."""
    cost = eval_cost(batch_size=60, eval_examples=20_000, adversarial_training=True, attack_steps=1)
    assert cost == pytest.approx(20_000 * (1 + 1 / 3) / (60 * 3))  # ~148 steps' worth
    schedule = _schedule(loop, train_iters, eval_every)
    work = Work.of(schedule, cost)
    assert len(work.points) == schedule.evaluations and work.steps == schedule.total
    levels = 2
    progress = Progress(levels * work.level(), work=work)
    seen = _simulate(work, levels, progress)
    assert max(abs(time - bar) for time, bar in seen) < 1e-9
    if (train_iters, eval_every) == (50, 500):  # the case reported: steps alone said 1/100
        first_time, _ = seen[0]
        steps_only = 1 / (levels * train_iters)
        assert first_time / steps_only > 20  # an ETA over 20 times too long
    progress.close()
    assert progress.done() == pytest.approx(progress.bar.total)


def test_work_counts_each_evaluation_once_and_never_goes_back():
    work = Work.of(_schedule("steps", 30, 7), eval_cost=5.0)
    assert work.points == (0, 7, 14, 21, 28, 30)
    assert [work.evaluations(b) for b in (0, 1, 7, 8, 30, 31)] == [0, 1, 1, 2, 5, 6]
    assert work.level() == 30 + 6 * 5.0
    sequence = [work.sequential(i) for i in range(0, 3 * 30 + 1)]
    assert sequence == sorted(sequence) and sequence[0] == 0
    assert sequence[-1] == 3 * work.level() - 5.0  # the very last evaluation: at close()
    disk = [work.on_disk(i) for i in range(0, 3 * 30 + 1)]
    assert disk == sorted(disk) and disk[-1] == 3 * work.level()
    assert work.on_disk(30) == work.level()  # a finished level, the next not started
    assert work.on_disk(37) == work.level() + 7 + 2 * 5.0  # evaluations at 0 and 7 written


def test_a_pool_shows_each_running_trials_level_left_and_accuracy(tmp_path):
    exp = ExperimentDir(tmp_path / "exp")
    level = exp.trial(1).level(3)
    assert trial_status(exp, 1, 3) == "L03 starting"  # nothing on disk yet: no error
    write_json(level.info, {"level": 3, "remaining": 51.2})
    rows = [
        {"iteration": it, "split": split, "loss": 1.0, "acc": acc, "adv_loss": 2.0, "adv_acc": adv}
        for it, acc, adv in ((0, 0.5, 0.25), (100, 0.8125, 0.625))
        for split in ("valid", "test")
    ]
    rows[-2]["acc"] = 0.1  # the validation row of the last evaluation: not what is shown
    write_metrics(level.metrics, rows)
    assert trial_status(exp, 1, 3) == "L03 51.2% 0.812/0.625"
