"""Build a report directory: load the store, draw every figure, make every table, write the page.

Everything is written into a temporary sibling directory that replaces REPORT_DIR only once it
is complete, so a failed or interrupted report never leaves a half-written one behind.
"""

from __future__ import annotations

import csv
import glob
import html
import io
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.text import Text

from robust_tickets import __version__
from robust_tickets.errors import UserError
from robust_tickets.report import figures
from robust_tickets.report.aggregate import level_stat, table_iteration
from robust_tickets.report.figures import Drawn, Reference
from robust_tickets.report.formats import Table, to_csv, to_latex, to_markdown
from robust_tickets.report.header import command_line, duration, preset_name, run_info
from robust_tickets.report.html import FigureItem, Note, Section, TableItem, render_page
from robust_tickets.report.load import Series, Setting, group_settings, load_series, strategy_rank
from robust_tickets.report.paper import (
    PAPER_ITERATION,
    PAPER_SETUP,
    PAPER_TRIALS,
    paper_rows,
    setup_differences,
)
from robust_tickets.report.replication import (
    load_robustness,
    load_rows,
    reference_for,
    robustness_note,
    robustness_path,
)
from robust_tickets.report.robustness import finding, group, strong_figure, strong_table
from robust_tickets.report.style import pct, setting_slug, setting_title
from robust_tickets.report.tables import accuracy_table, paper_layout_table, summary_table
from robust_tickets.results import iter_rows

MIN_FONT_PT = 9
MARKER = ".robust-tickets-report"  # says a directory is a report we may replace
DEFAULT_AT = 30_000


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "report"


class _Writer:
    """Saves figures (PNG, SVG and the CSV of what they draw) and tables (Markdown, LaTeX, CSV)
    under a report directory with unique file names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.used: set[str] = set()

    def _unique(self, stem: str) -> str:
        stem, n = _safe(stem), 2
        candidate = stem
        while candidate in self.used:
            candidate, n = f"{stem}-{n}", n + 1
        self.used.add(candidate)
        return candidate

    def figure(self, drawn: Drawn | None, stem: str, title: str) -> FigureItem | None:
        if drawn is None:
            return None
        fig = drawn.fig
        for text in fig.findobj(Text):  # 9 pt at 96 px/in is 12 px: readable at any column width
            if text.get_fontsize() < MIN_FONT_PT:
                text.set_fontsize(MIN_FONT_PT)
        stem = self._unique(stem)
        (self.root / "figures").mkdir(exist_ok=True)
        files = [f"figures/{stem}.svg", f"figures/{stem}.png", f"figures/{stem}.csv"]
        svg = io.StringIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
        (self.root / files[0]).write_text(svg.getvalue())
        fig.savefig(self.root / files[1], format="png", dpi=150)
        (self.root / files[2]).write_text(figure_csv(drawn.data))
        width = round(fig.get_figwidth() * 96)
        return FigureItem(title, drawn.caption, svg.getvalue().encode(), width, files)

    def table(self, table: Table) -> TableItem:
        table.slug = self._unique(table.slug)
        (self.root / "tables").mkdir(exist_ok=True)
        files = []
        for ext, render in (("md", to_markdown), ("tex", to_latex), ("csv", to_csv)):
            path = f"tables/{table.slug}.{ext}"
            (self.root / path).write_text(render(table))
            files.append(path)
        return TableItem(table, files)


def figure_csv(data: list[dict[str, Any]]) -> str:
    """The numbers a figure draws, one row per point (columns in order of first appearance)."""
    columns: dict[str, None] = {}
    for row in data:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in data:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 6)
    return value


def default_out(dirs: list[Path]) -> Path:
    """reports/<name of the results directory> (names joined when several)."""
    names = [_safe(Path(d).resolve().name) for d in dirs]
    name = "+".join(names) if len(names) <= 3 else f"{names[0]}+{len(names) - 1}-more"
    return Path("reports") / name


def _check_out(out: Path, dirs: list[Path]) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists())):
        raise UserError(
            f"{out} exists and is not a report made by this command: choose another --out"
        )
    resolved = out.resolve()
    for d in dirs:
        d = Path(d).resolve()
        if resolved == d or d.is_relative_to(resolved):
            raise UserError(f"--out {out} would replace the results in {d}: choose another --out")


def _iteration0_note(setting: Setting) -> str | None:
    """Say so where pruned tickets are already far above chance before training (iteration 0):
    their weights are reset, but the mask carries what earlier levels learned."""
    series = next((s for s in setting.series if s.strategy == "reset"), None)
    if series is None or len(series.levels()) < 2:
        return None
    start = {
        lv: level_stat(series, lv, "test", "acc", 0) for lv in series.levels() if lv
    }  # pruned levels only
    start = {lv: st for lv, st in start.items() if st.n}
    dense = level_stat(series, 0, "test", "acc", 0)
    if not start or max(st.mean for st in start.values()) < 0.25:
        return None
    best = max(start, key=lambda lv: start[lv].mean)
    low = min(st.mean for st in start.values())
    dense_text = f"; the dense network starts at {dense.mean * 100:.1f}%" if dense.n else ""
    return (
        f"Before training (iteration 0), the pruned tickets of strategy {series.label} already "
        f"classify {low * 100:.1f}–{start[best].mean * 100:.1f}% of the test images "
        f"(highest at {pct(series.remaining(best))}% of the weights){dense_text}; chance is 10%. "
        "This is expected, not a failed reset: each level's weights are reset to their initial "
        "values, but the mask that selects them was chosen from the weights trained at the "
        "previous level, and carries information by itself."
    )


def _setting_section(
    setting: Setting, slug: str, at: int, writer: _Writer, references: list[Reference]
) -> Section:
    """The accuracy figure (the answer), the per-experiment tables, then figures 1, 2 and 4."""
    section = Section(title=setting_title(setting.flat), anchor=f"setting-{slug}")
    strategies = ", ".join(s.label for s in setting.series)
    section.intro = html.escape(f"Strategies: {strategies}.")
    item = writer.figure(
        figures.accuracy_figure(setting, at, references),
        f"fig3_accuracy_{slug}",
        "Natural and adversarial test accuracy against % of weights remaining",
    )
    if item is not None:
        section.blocks.append(item)
    note = _iteration0_note(setting)
    if note:
        section.blocks.append(Note(note))
    for s in setting.series:
        section.blocks.append(writer.table(accuracy_table(s, at, f"table_{slug}_{s.label}")))
    candidates: list[tuple[Drawn | None, str, str]] = []
    for index, others in enumerate(figures.curve_comparisons(setting)):
        candidates.append(
            (
                figures.curves_figure(setting, others),
                f"fig1_curves_{slug}" + (f"_{index + 1}" if index else ""),
                "Test accuracy, adversarial test accuracy and test loss during training",
            )
        )
    candidates.append(
        (figures.early_stop_figure(setting), f"fig2_early_stop_{slug}", "Early stopping")
    )
    for series in setting.series:
        if len(series.levels()) > 1:
            candidates.append(
                (
                    figures.weights_figure(series),
                    f"fig4_weights_{slug}_{series.label}",
                    f"Surviving initial weights, strategy {series.label}",
                )
            )
    for drawn, stem, title in candidates:
        item = writer.figure(drawn, stem, title)
        if item is not None:
            section.blocks.append(item)
    return section


def _robustness_section(
    rows: list[dict[str, Any]],
    writer: _Writer,
    paths: dict[str, Path],
    replication: list[dict[str, Any]],
    configs: dict[str, dict[str, Any]],
) -> Section | None:
    """Strong-attack results written by `robust-tickets evaluate`, where there are any."""
    from robust_tickets.report.claim import claim_figure, claim_table
    from robust_tickets.report.robustness_curves import masking_table, robustness_curves

    if not any(r["split"] in ("robustness", "masking-check") for r in rows):
        return None
    section = Section(title="Honest robustness: the training attack against strong attacks",
                      anchor="robustness")  # fmt: skip
    section.intro = html.escape(
        "The paper measures each network only with the attack it was trained with. "
        "`robust-tickets evaluate` attacks the final networks again, here with stronger attacks "
        "on a subset of the test set; an example counts as robust under the worst case only if "
        "every attack run fails on it. Where the worst case is far below the training attack's "
        "accuracy, that accuracy overstates the network's robustness."
    )
    strongs = group(rows, configs)
    checks = masking_table(rows)
    if strongs:
        item = writer.figure(
            claim_figure(strongs, checks),
            "fig7_claim",
            "The paper's measure against the worst case, natural and adversarial training",
        )
        if item is not None:
            section.blocks.append(item)
        section.blocks.append(writer.table(claim_table(strongs, checks)))
    for index, strong in enumerate(strongs):
        section.blocks.append(Note(finding(strong)))
        reference = robustness_note(replication, strong.flat)
        if reference:
            section.blocks.append(Note(reference))
        where = str(paths.get(strong.experiment, strong.experiment))
        section.blocks.append(Note("Command: " + strong.command(where), code=True))
        item = writer.figure(
            strong_figure(strong),
            f"fig5_strong_attacks_{index}",
            "Training attack against strong attacks, by % of weights remaining",
        )
        if item is not None:
            section.blocks.append(item)
        section.blocks.append(writer.table(strong_table(strong, f"strong_attacks_{index}")))
    eps = {r["eval_eps"] for r in rows if r["split"] == "robustness"}
    if len(eps) > 1:
        fig = robustness_curves(rows)
        if fig is not None:
            item = writer.figure(
                Drawn(fig, _curve_data(rows), "Worst case over the attacks run, one line per "
                      "level, mean over the evaluated trials."),
                "fig6_robustness_curves",
                "Robust accuracy against eps",
            )  # fmt: skip
            if item is not None:
                section.blocks.append(item)
    if checks:
        names = sorted(
            {k for e in checks for k in e}
            - {"experiment", "trial", "level", "remaining", "eps", "n", "overall"}
        )
        header = ["experiment", "trial", "level", "% left", *names, "overall"]
        raw = [
            [
                e["experiment"],
                e["trial"],
                e["level"],
                e["remaining"],
                *[e.get(n, "") for n in names],
                e["overall"],
            ]
            for e in checks
        ]
        cells = [[str(c) if not isinstance(c, float) else f"{c:.1f}" for c in r] for r in raw]
        table = Table(
            "masking_checks", "Gradient-masking checks per ticket", header, cells, header, raw
        )
        section.blocks.append(writer.table(table))
    return section


def _curve_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: r[k] for k in ("experiment", "trial", "level", "remaining", "eval_eps",
                           "n_examples", "acc")}
        for r in rows
        if r["split"] == "robustness" and r["eval_attack"] == "worst-case"
    ]  # fmt: skip


def _header(series: list[Series], dirs: list[Path], at: int) -> list[tuple[str, str]]:
    """(field, HTML) pairs: what was run, by what, for how long, and what the page shows."""
    esc = html.escape
    rows: list[tuple[str, str]] = []
    for s in series:
        info = run_info(s)
        preset = preset_name(s)
        t = s.config.train
        levels = s.levels()
        what = f"preset <code>{preset}</code>" if preset else "no preset: a config of its own"
        trials = s.trials()
        rows += [
            ("experiment", f"<code>{esc(s.name)}</code> ({what})"),
            ("command", f"<code>{esc(command_line(s))}</code>"),
            (
                "training",
                f"{t.train_iters:,} iterations per level, evaluated every {t.eval_every:,} on "
                f"the full validation and test sets; levels {levels[0]}–{levels[-1]} "
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
                f"{duration(info['level_seconds'])} of training summed over levels",
            ),
        ]
    shown = sorted({table_iteration(s.config, at) for s in series})
    its = ", ".join(f"{i:,}" for i in shown)
    if shown == [at]:
        why = ""
    elif at == DEFAULT_AT:
        why = f" (each run's last evaluated iteration; the paper's tables are at {at:,})"
    else:
        why = f" (the last evaluated iteration up to the {at:,} asked for)"
    rows.append(("tables and figures", f"test accuracy at iteration {its} of each level{esc(why)}"))
    rows.append(
        (
            "report",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, robust_tickets {__version__}, "
            "from " + ", ".join(f"<code>{esc(str(d))}</code>" for d in dirs),
        )
    )
    return rows


def _differences(series: list[Series], at: int) -> list[str]:
    """Why the numbers differ from the paper's, for experiments compared with it."""
    out = []
    for s in series:
        if paper_rows(s.flat) is None:
            continue
        t = s.config.train
        iteration = table_iteration(s.config, at)
        items = setup_differences(s.flat)
        if len(s.trials()) != PAPER_TRIALS:
            items.append(f"{len(s.trials())} trial(s) (paper {PAPER_TRIALS})")
        if iteration != PAPER_ITERATION:
            items.append(f"accuracy read at iteration {iteration:,} (paper {PAPER_ITERATION:,})")
        text = f"{s.label}: " + "; ".join(items) + "." if items else ""
        if t.train_iters < PAPER_ITERATION:
            share = t.train_iters / PAPER_SETUP["train_iters"]
            text += (
                f" Every level here trains {share:.1%} as long as the paper's, "
                "so accuracies sit below the paper's, and the dense network is hit hardest: it "
                "starts from random weights, while each pruned ticket starts from a mask that "
                "already carries what earlier levels learned. Compare shapes across sparsity, "
                "and read Δ as mostly the cost of the short run: whether full-length runs match "
                "the paper is what the full replication (docs/replication) is for."
            )
        if preset_name(s) == "finding":
            text += (
                " The `finding` preset is the main job's: sized by measurement to finish, with "
                "its strong-attack check and this report, within 5 minutes on 2 CPU cores."
            )
        if text:
            out.append(text)
    return out


# ---- issue 13: pruning criteria compared (data, figure and table in report/criteria.py) ----
def _criteria_sections(dirs: list[Path], writer: _Writer) -> list[Section]:
    """One section per setting whose experiments differ only in how they prune."""
    from robust_tickets.report import criteria

    sections = []
    for setting in criteria.load_criteria(dirs):
        stem = criteria.slug(setting)
        section = Section(title=f"Criteria: {setting.title()}", anchor=_safe(stem))
        section.intro = html.escape(
            "Magnitude pruning beside the other criteria at matched sparsity: test accuracy at "
            "the end of each level, mean ± std over trials (difference from magnitude)."
        )
        header, rows, raw = criteria.criteria_table(setting)
        raw_header = criteria.raw_header(setting)
        drawn = Drawn(
            criteria.criteria_figure(setting),
            data=[dict(zip(raw_header, r, strict=True)) for r in raw],  # the table's numbers
            caption="Mean over trials with a one-std band; the dense network dashed; a third "
            "panel with the strong attacks' worst case where `evaluate` was run.",
        )
        item = writer.figure(
            drawn, f"fig_{stem}", "Test accuracy against % of weights remaining, per criterion"
        )
        if item is not None:
            section.blocks.append(item)
        note = criteria.dense_note(setting)
        table = Table(
            f"table_{stem}",
            "Test accuracy (%) per criterion, difference from magnitude in brackets",
            header,
            rows,
            raw_header,
            raw,
            [note] if note else [],
        )
        section.blocks.append(writer.table(table))
        sections.append(section)
    return sections


def _write_report(
    root: Path, dirs: list[Path], series: list[Series], at: int, replication: Path | None
) -> Path:
    writer = _Writer(root)
    settings = group_settings(series)
    slugs: dict[int, str] = {}
    used: set[str] = set()
    for index, setting in enumerate(settings):
        base = slug = _safe(setting_slug(setting.flat))
        n = 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        slugs[index] = slug
    replication_rows = load_rows(replication) if replication is not None else []

    def reference(flat: dict[str, Any]) -> Reference | None:
        found = reference_for(replication_rows, flat, PAPER_ITERATION)
        return found[0] if found else None

    summary = Section(title="Summary: the paper's six sparsities, ours beside the paper's",
                      anchor="summary")  # fmt: skip
    summary.intro = html.escape(
        "One table per experiment with more than one level, rows = the paper's six levels "
        "(100, 51.3, 16.9, 8.7, 3.6, 1.8% of the weights, as in its Tables 1-2). The sections "
        "below have the figures and every level of every experiment."
    )
    for text in _differences(series, at):
        summary.blocks.append(Note("Why these numbers differ from the paper's: " + text))
    layout = paper_layout_table(series, at)
    if layout is not None:
        summary.blocks.append(writer.table(layout))
    pruned = sorted(
        (s for s in series if len(s.levels()) > 1),
        key=lambda s: (strategy_rank(s.strategy), s.name),
    )
    for index, s in enumerate(pruned):
        summary.blocks.append(
            writer.table(summary_table(s, at, reference(s.flat), f"summary_{index}_{s.label}"))
        )
    if not pruned:
        summary.blocks.append(Note("No experiment with pruned levels: nothing to tabulate."))
    sections = [summary]
    for index, setting in enumerate(settings):
        refs = [r for r in [reference(_primary_flat(setting))] if r is not None]
        sections.append(_setting_section(setting, slugs[index], at, writer, refs))
    eval_rows = [r for d in dirs for r in iter_rows(d, include_eval=True)]
    paths = {s.name: s.paths[0] for s in series}
    strong_reference = []
    if replication is not None and robustness_path(replication).is_file():
        strong_reference = load_robustness(robustness_path(replication))
    configs = {s.name: s.flat for s in series}
    robustness = _robustness_section(eval_rows, writer, paths, strong_reference, configs)
    if robustness is not None:
        sections.append(robustness)
        for strong in group(eval_rows, configs):
            summary.blocks.insert(0, Note(finding(strong) + " (details: the last section)"))
    else:
        summary.blocks.append(
            Note(
                "No strong-attack evaluation found: run `robust-tickets evaluate` on the results "
                "to see how the training attack's accuracy compares with stronger attacks."
            )
        )
    sections += _criteria_sections(dirs, writer)  # issue 13: criteria at matched sparsity

    missing = [f"{s.name}: {note}" for s in series for note in s.notes]
    page = render_page("robust_tickets report", _header(series, dirs, at), missing, sections)
    index = root / "index.html"
    index.write_text(page)
    (root / MARKER).write_text("made by `robust-tickets report`; safe to replace\n")
    return index


def _primary_flat(setting: Setting) -> dict[str, Any]:
    resets = setting.by_strategy("reset")
    return (resets[0] if resets else setting.series[0]).flat


def build_report(
    dirs: list[Path],
    out: Path | None = None,
    at: int = DEFAULT_AT,
    replication: Path | None = None,
) -> Path:
    """Write the report of the results under `dirs` to `out`; returns the path of index.html.
    `replication`: a `results --csv` file drawn as a reference (None: none)."""
    dirs = [Path(d) for d in dirs]
    if at < 0:
        raise UserError("--at-iteration must be >= 0")
    out = Path(out) if out is not None else default_out(dirs)
    _check_out(out, dirs)
    series = load_series(dirs)  # raises UserError when there is nothing to report
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(out)) from None
    try:
        with matplotlib.rc_context(figures.STYLE):
            _write_report(tmp, dirs, series, at, replication)
        tmp.chmod(0o755)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _remove_stale(out: Path) -> None:
    """Remove the temp directories of reports to `out` whose writer died (killed mid-write):
    their names carry the writer's pid, and one still alive on this machine may be writing.
    Those of older versions (no pid) are removed once an hour old."""
    for kind in ("tmp", "old"):
        for leftover in out.parent.glob(f".{glob.escape(out.name)}.{kind}-*"):
            pid, dash, _ = leftover.name.removeprefix(f".{out.name}.{kind}-").partition("-")
            if dash and pid.isdigit():
                stale = not _alive(int(pid))
            else:
                stale = time.time() - leftover.stat().st_mtime > 3600
            if stale:
                shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _swap_in(new: Path, out: Path) -> None:
    """Replace `out` by the finished `new` (the previous report is moved aside, then removed)."""
    if not out.exists():
        new.rename(out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-{os.getpid()}-"))
    old = old / "report"
    out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        old.rename(out)  # put the previous report back
        raise
    finally:
        shutil.rmtree(old.parent, ignore_errors=True)
