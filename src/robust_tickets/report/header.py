"""What a report shows was made by: the command line that reproduces each experiment, the code,
torch, device and threads that ran it (from each level's done.json), trials and seeds, training
length, wall time. Older runs that did not record something are said to lack it."""

from __future__ import annotations

import html
import shlex
import time
from datetime import UTC, datetime
from typing import Any

from robust_tickets import __version__
from robust_tickets.config import PRESET_RUN_OPTIONS, PRESETS
from robust_tickets.report.aggregate import evaluation_name, table_iteration, table_label
from robust_tickets.report.data import ReportData
from robust_tickets.report.html import MetaGroup
from robust_tickets.report.load import Series
from robust_tickets.report.paper import PAPER_ITERATION
from robust_tickets.report.style import pct
from robust_tickets.resolve import from_flat
from robust_tickets.schedule import level_schedule
from robust_tickets.store import read_json

RUN_INFO = ("robust_tickets", "commit", "torch", "device", "threads")


def training_text(config) -> str:
    """A level's length and evaluation points, in the words of its loop."""
    t, schedule = config.train, level_schedule(config)
    stop = f", stopped at step {t.stop_step:,}" if t.stop_step else ""
    until = f" up to step {t.eval_until:,} and at the end" if t.eval_until else ""
    if t.train_loop == "keras":
        return (
            f"the original's Keras loop: {schedule.epochs} epochs of {schedule.per_epoch:,} "
            f"batches ({schedule.total:,} steps per level{stop}), evaluated after in-epoch "
            f"batches 0, {t.eval_every:,}, ...{until} (labels count evaluations x "
            f"{t.eval_every:,})"
        )
    return f"{schedule.total:,} iterations per level{stop}, evaluated every {t.eval_every:,}{until}"


def _flag(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    return [flag, f"{value:g}" if isinstance(value, float) else str(value)]


def closest_preset(series: Series) -> tuple[str | None, dict[str, Any]]:
    """The preset (None: the defaults) from which the fewest settings change to this
    experiment's config, and those changes."""
    flat = series.flat
    candidates: list[tuple[str | None, dict[str, Any]]] = [(None, from_flat({}).flat())]
    candidates += [(name, from_flat(values).flat()) for name, values in PRESETS.items()]
    best: tuple[str | None, dict[str, Any]] | None = None
    for preset, base in candidates:
        changed = {k: v for k, v in flat.items() if base[k] != v}
        if best is None or len(changed) < len(best[1]):
            best = (preset, changed)
    assert best is not None
    return best


def command_line(series: Series) -> str:
    """The shortest `robust-tickets run` command that writes this experiment (same config hash)
    with the trials found, into the results directory it was read from."""
    preset, changed = closest_preset(series)
    argv = ["robust-tickets", "run"] + (["--preset", preset] if preset else [])
    for name, value in changed.items():
        argv += _flag(name, value)
    trials = series.trials()
    default = PRESET_RUN_OPTIONS.get(preset or "", {}).get("trials", 1)
    if trials != list(range(default)):
        argv += ["--trials", str(len(trials))]
        if trials[0]:
            argv += ["--first-trial", str(trials[0])]
    argv += ["--output", str(series.paths[0].parent)]
    return shlex.join(argv)


def preset_name(series: Series) -> str | None:
    """The preset this experiment's config is exactly (None for any other config)."""
    for name, values in PRESETS.items():
        if from_flat(values).hash() == series.config.hash():
            return name
    return None


def preset_text(series: Series) -> str:
    """What the header says beside the experiment's name, consistent with its command line:
    "preset finding", "preset lenet5 with 4 settings changed", or "no preset: ..."."""
    preset, changed = closest_preset(series)
    count = f"{len(changed)} setting{'s' if len(changed) != 1 else ''} changed"
    if preset is None:
        return f"no preset: the defaults with {count}" if changed else "no preset: the defaults"
    return f"preset {preset}" + (f" with {count}" if changed else "")


def run_info(series: Series) -> dict[str, Any]:
    """What ran the finished levels (each field: the distinct values found, or "not recorded"),
    summed training seconds, and the span of the run from the files' times."""
    seen: dict[str, set[str]] = {k: set() for k in RUN_INFO}
    seconds, starts, ends, copied = 0.0, [], [], 0
    for run in series.runs.values():
        files = run.level_dir
        lent = files.borrowed.is_file()  # a level 0 copied from a sibling: its lender's time
        if files.info.is_file() and not lent:
            starts.append(files.info.stat().st_mtime)
        if not files.done.is_file():
            continue
        done = read_json(files.done)
        if lent:
            copied += 1
        else:
            ends.append(files.done.stat().st_mtime)
            seconds += float(done.get("seconds_this_session", 0.0))
        for key in RUN_INFO:
            value = done.get(key)
            # Runs from before done.json recorded this say so; a commit of "" is no checkout.
            seen[key].add("not recorded" if value is None else str(value))
    out: dict[str, Any] = {k: ", ".join(sorted(v)) or "no finished level" for k, v in seen.items()}
    out["level_seconds"] = seconds
    out["copied_levels"] = copied
    out["span_seconds"] = (max(ends) - min(starts)) if ends and starts else None
    out["started"] = _date(min(starts)) if starts else None
    out["finished"] = _date(max(ends)) if ends else None
    return out


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def header_groups(data: ReportData) -> list[MetaGroup]:
    """The page's header: one block per experiment (what was run, by what, for how long), then
    one for the report (the iteration its tables show, when and from what it was made)."""
    esc = html.escape
    groups = []
    for index, s in enumerate(data.series, start=1):
        info = run_info(s)
        levels = s.levels()
        trials = s.trials()
        heading = (
            f"Experiment {index} of {len(data.series)}: {esc(s.title)}, strategy {esc(s.label)}"
        )
        rows = [
            ("experiment", f"<code>{esc(s.name)}</code> ({esc(preset_text(s))})"),
            ("command", f"<code>{esc(command_line(s))}</code>"),
            (
                "training",
                f"{training_text(s.config)} on the full validation and test sets; levels "
                f"{levels[0]}–{levels[-1]} "
                f"({pct(s.remaining(levels[0]))}% → {pct(s.remaining(levels[-1]))}% of the "
                "weights)",
            ),
            (
                "trials and seeds",
                f"{len(trials)} ({', '.join(map(str, trials))}); base seed {s.config.seed}, each "
                "trial derives its own init, data-order and attack seeds",
            ),
            (
                "code",
                f"robust_tickets {esc(info['robust_tickets'])}, commit "
                f"<code>{esc(info['commit'] or 'unknown (not a git checkout)')}</code>",
            ),
            (
                "torch, device, threads",
                f"torch {esc(info['torch'])}, device {esc(info['device'])}, "
                f"{esc(info['threads'])} torch thread(s) per worker process",
            ),
            (
                "time",
                f"{duration(info['span_seconds'])} wall from the first level's start to the last "
                f"one's end ({info['started']} → {info['finished']}); "
                f"{duration(info['level_seconds'])} of training summed over levels"
                + (
                    f" ({info['copied_levels']} level(s) copied from a sibling experiment "
                    "that trained them, not counted)"
                    if info["copied_levels"]
                    else ""
                ),
            ),
        ]
        groups.append(MetaGroup(heading, rows))
    at = data.at
    shown = sorted({table_iteration(s.config, at) for s in data.series})
    names = sorted({evaluation_name(s.config, at) for s in data.series})
    its = ", ".join(names).removeprefix("iteration ")
    if shown == [at] or all(table_label(s.config, at) == at for s in data.series):
        why = ""
    elif at == PAPER_ITERATION:
        why = f" (each run's last evaluated iteration; the paper's tables are at {at:,})"
    else:
        why = f" (the last evaluated iteration up to the {at:,} asked for)"
    rows = [
        ("tables and figures", f"test accuracy at iteration {its} of each level{esc(why)}"),
        (
            "report",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, robust_tickets {__version__}, "
            "from " + ", ".join(f"<code>{esc(str(d))}</code>" for d in data.dirs),
        ),
    ]
    groups.append(MetaGroup("This report", rows))
    return groups
