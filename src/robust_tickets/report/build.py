"""Build a report directory: load the store, draw every figure, make every table, write the page.

Everything is written into a temporary sibling directory that replaces REPORT_DIR only once it
is complete, so a failed or interrupted report never leaves a half-written one behind.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from robust_tickets import __version__
from robust_tickets.errors import UserError
from robust_tickets.report import figures
from robust_tickets.report.formats import Table, to_csv, to_latex, to_markdown
from robust_tickets.report.html import FigureItem, Section, TableItem, render_page
from robust_tickets.report.load import Series, Setting, group_settings, load_series
from robust_tickets.report.style import setting_slug, setting_title
from robust_tickets.report.tables import accuracy_table, grid_tables

MARKER = ".robust-tickets-report"  # says a directory is a report we may replace
DEFAULT_AT = 30_000


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "report"


class _Writer:
    """Saves figures and tables under a report directory with unique file names."""

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

    def figure(self, fig: Figure | None, stem: str, title: str, caption: str) -> FigureItem | None:
        if fig is None:
            return None
        stem = self._unique(stem)
        (self.root / "figures").mkdir(exist_ok=True)
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=150)
        files = [f"figures/{stem}.png", f"figures/{stem}.svg"]
        (self.root / files[0]).write_bytes(png.getvalue())
        fig.savefig(self.root / files[1], format="svg", metadata={"Date": None})
        width = round(fig.get_figwidth() * 96)
        return FigureItem(title, caption, png.getvalue(), width, files)

    def table(self, table: Table) -> TableItem:
        table.slug = self._unique(table.slug)
        (self.root / "tables").mkdir(exist_ok=True)
        files = []
        for ext, render in (("md", to_markdown), ("tex", to_latex), ("csv", to_csv)):
            path = f"tables/{table.slug}.{ext}"
            (self.root / path).write_text(render(table))
            files.append(path)
        return TableItem(table, files)


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


def _setting_section(setting: Setting, slug: str, at: int, writer: _Writer) -> Section:
    """Figure 3 (the answer), the per-experiment tables, then figures 1, 2 and 4."""
    section = Section(title=setting_title(setting.flat), anchor=f"setting-{slug}")
    strategies = ", ".join(s.label for s in setting.series)
    section.intro = html.escape(f"Strategies: {strategies}.")
    item = writer.figure(
        figures.accuracy_figure(setting, at),
        f"fig3_accuracy_{slug}",
        "Natural and adversarial test accuracy against % of weights remaining",
        "Mean over trials with a one-std band; the dense baseline as a dashed line; the "
        "paper's values (reset strategy, where this setting matches the paper's) as x.",
    )
    if item is not None:
        section.blocks.append(item)
    for s in setting.series:
        section.blocks.append(writer.table(accuracy_table(s, at, f"table_{slug}_{s.label}")))
    candidates = [
        (
            figures.curves_figure(setting),
            f"fig1_curves_{slug}",
            "Test accuracy, adversarial test accuracy and test loss during training",
            "One colour per sparsity level (the level nearest to the paper's 100, 51.3, 16.9, "
            "8.7, 3.6 and 1.8%); one column per comparison with the first strategy.",
        ),
        (
            figures.early_stop_figure(setting),
            f"fig2_early_stop_{slug}",
            "Early stopping against sparsity",
            "Iteration of minimum validation loss, and the validation accuracy and adversarial "
            "accuracy at that iteration; finished levels only.",
        ),
    ]
    for series in setting.series:
        if len(series.levels()) > 1:
            candidates.append(
                (
                    figures.weights_figure(series),
                    f"fig4_weights_{slug}_{series.label}",
                    f"Surviving initial weights, strategy {series.label}",
                    "Density of the initial values of the weights that survive pruning at each "
                    "selected level, per layer (initial = what the level started training from).",
                )
            )
    for fig, stem, title, caption in candidates:
        item = writer.figure(fig, stem, title, caption)
        if item is not None:
            section.blocks.append(item)
    return section


def _robustness_section(dirs: list[Path], writer: _Writer) -> Section | None:
    """Strong-attack results written by `robust-tickets evaluate`, where there are any."""
    from robust_tickets.evaluation.figures import (
        masking_table,
        robustness_curves,
        strong_vs_remaining,
    )
    from robust_tickets.results import iter_rows

    rows = [r for d in dirs for r in iter_rows(d, include_eval=True)]
    if not any(r["split"] in ("robustness", "masking-check") for r in rows):
        return None
    section = Section(title="Honest robustness: strong attacks", anchor="robustness")
    section.intro = html.escape(
        "From `robust-tickets evaluate`: robust accuracy is the per-example worst case over the "
        "attacks run; the gradient-masking checks warn where robustness may be overstated."
    )
    for fig, stem, title, caption in (
        (
            strong_vs_remaining(rows),
            "fig5_strong_vs_remaining",
            "Strong-attack accuracy against % of weights remaining",
            "Clean accuracy, the training attack's accuracy and the strong worst case, at the "
            "training eps, mean over the evaluated trials.",
        ),
        (
            robustness_curves(rows),
            "fig6_robustness_curves",
            "Robust accuracy against eps",
            "Worst case over the attacks run, one line per level.",
        ),
    ):
        item = writer.figure(fig, stem, title, caption)
        if item is not None:
            section.blocks.append(item)
    checks = masking_table(rows)
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
        item = writer.figure(
            criteria.criteria_figure(setting),
            f"fig_{stem}",
            "Test accuracy against % of weights remaining, per criterion",
            "Mean over trials with a one-std band; the dense network dashed; a third panel "
            "with the strong attacks' worst case where `evaluate` was run.",
        )
        if item is not None:
            section.blocks.append(item)
        header, rows, raw = criteria.criteria_table(setting)
        note = criteria.dense_note(setting)
        table = Table(
            f"table_{stem}",
            "Test accuracy (%) per criterion, difference from magnitude in brackets",
            header,
            rows,
            criteria.raw_header(setting),
            raw,
            [note] if note else [],
        )
        section.blocks.append(writer.table(table))
        sections.append(section)
    return sections


def _write_report(root: Path, dirs: list[Path], series: list[Series], at: int) -> Path:
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

    summary = Section(title="Summary: test accuracy in the paper's layout", anchor="summary")
    summary.intro = html.escape(
        "One table per strategy, rows = % of weights remaining, as in the paper's Tables 1-2. "
        "Each setting's section below has its figures and a table per experiment with every "
        "level and, where the config matches the paper's, the paper's value and the difference."
    )
    summary.blocks += [writer.table(table) for table in grid_tables(series, at)]
    sections = [summary]
    for index, setting in enumerate(settings):
        sections.append(_setting_section(setting, slugs[index], at, writer))
    robustness = _robustness_section(dirs, writer)
    if robustness is not None:
        sections.append(robustness)
    sections += _criteria_sections(dirs, writer)  # issue 13: criteria at matched sparsity

    missing = [f"{s.name}: {note}" for s in series for note in s.notes]
    experiments = "<br>".join(
        f"<code>{html.escape(s.name)}</code> — {len(s.trials())} trial(s), "
        f"{sum(r.complete for r in s.runs.values())} finished level(s)"
        for s in series
    )
    meta = [
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by robust_tickets {__version__} from "
        + ", ".join(f"<code>{html.escape(str(d))}</code>" for d in dirs),
        f"Tables and accuracy figures at iteration {at:,} (or the last evaluated one).",
        f"Experiments:<br>{experiments}",
    ]
    page = render_page("robust_tickets report", meta, missing, sections)
    index = root / "index.html"
    index.write_text(page)
    (root / MARKER).write_text("made by `robust-tickets report`; safe to replace\n")
    return index


def build_report(dirs: list[Path], out: Path | None = None, at: int = DEFAULT_AT) -> Path:
    """Write the report of the results under `dirs` to `out`; returns the path of index.html."""
    dirs = [Path(d) for d in dirs]
    if at < 0:
        raise UserError("--at-iteration must be >= 0")
    out = Path(out) if out is not None else default_out(dirs)
    _check_out(out, dirs)
    series = load_series(dirs)  # raises UserError when there is nothing to report
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        with matplotlib.rc_context(figures.STYLE):
            _write_report(tmp, dirs, series, at)
        tmp.chmod(0o755)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _swap_in(new: Path, out: Path) -> None:
    """Replace `out` by the finished `new` (the previous report is moved aside, then removed)."""
    if not out.exists():
        new.rename(out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-")) / "report"
    out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        old.rename(out)  # put the previous report back
        raise
    finally:
        shutil.rmtree(old.parent, ignore_errors=True)
