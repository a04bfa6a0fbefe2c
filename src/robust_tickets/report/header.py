"""What a report shows was made by: the command line that reproduces each experiment, the code,
torch, device and threads that ran it (from each level's done.json), trials and seeds, training
length, wall time. Older runs that did not record something are said to lack it."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from robust_tickets.config import PRESET_RUN_OPTIONS, PRESETS
from robust_tickets.report.load import Series
from robust_tickets.resolve import from_flat
from robust_tickets.store import read_json

RUN_INFO = ("robust_tickets", "commit", "torch", "device", "threads")


def _flag(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    return [flag, f"{value:g}" if isinstance(value, float) else str(value)]


def command_line(series: Series) -> str:
    """The shortest `robust-tickets run` command that writes this experiment (same config hash)
    with the trials found, into the results directory it was read from."""
    flat = series.flat
    candidates: list[tuple[str | None, dict[str, Any]]] = [(None, from_flat({}).flat())]
    candidates += [(name, from_flat(values).flat()) for name, values in PRESETS.items()]
    best = None
    for preset, base in candidates:
        changed = {k: v for k, v in flat.items() if base[k] != v}
        if best is None or len(changed) < len(best[1]):
            best = (preset, changed)
    preset, changed = best  # type: ignore[misc]
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


def run_info(series: Series) -> dict[str, Any]:
    """What ran the finished levels (each field: the distinct values found, or "not recorded"),
    summed training seconds, and the span of the run from the files' times."""
    seen: dict[str, set[str]] = {k: set() for k in RUN_INFO}
    seconds, starts, ends = 0.0, [], []
    for run in series.runs.values():
        files = run.level_dir
        if files.info.is_file():
            starts.append(files.info.stat().st_mtime)
        if not files.done.is_file():
            continue
        ends.append(files.done.stat().st_mtime)
        done = read_json(files.done)
        seconds += float(done.get("seconds_this_session", 0.0))
        for key in RUN_INFO:
            value = done.get(key)
            # Runs from before done.json recorded this say so; a commit of "" is no checkout.
            seen[key].add("not recorded" if value is None else str(value))
    out: dict[str, Any] = {k: ", ".join(sorted(v)) or "no finished level" for k, v in seen.items()}
    out["level_seconds"] = seconds
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
