"""Writing a report directory: every figure (SVG, PNG, the CSV of what it draws) and every table
(Markdown, LaTeX, CSV) under unique file names, into a temporary sibling directory that replaces
REPORT_DIR only once it is complete, so a failed or interrupted report never leaves a
half-written one behind."""

from __future__ import annotations

import csv
import glob
import io
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.text import Text

from robust_tickets.errors import UserError
from robust_tickets.report.formats import Table, to_csv, to_latex, to_markdown
from robust_tickets.report.html import FigureItem, TableItem
from robust_tickets.report.plot import Drawn

MIN_FONT_PT = 9
MARKER = ".robust-tickets-report"  # says a directory is a report we may replace


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "report"


class ReportWriter:
    """Saves figures and tables under a report directory with unique file names and returns
    the page's items that link to them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.used: set[str] = set()

    def _unique(self, stem: str) -> str:
        stem, n = safe_name(stem), 2
        candidate = stem
        while candidate in self.used:
            candidate, n = f"{stem}-{n}", n + 1
        self.used.add(candidate)
        return candidate

    def figure(self, drawn: Drawn, stem: str, title: str) -> FigureItem:
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


# ---- the directory, replaced whole ----------------------------------------------------------
def default_out(dirs: list[Path]) -> Path:
    """reports/<name of the results directory> (names joined when several)."""
    names = [safe_name(Path(d).resolve().name) for d in dirs]
    name = "+".join(names) if len(names) <= 3 else f"{names[0]}+{len(names) - 1}-more"
    return Path("reports") / name


def check_out(out: Path, dirs: list[Path]) -> None:
    """Refuse a non-empty directory that is not a report, and any that holds the results."""
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists())):
        raise UserError(
            f"{out} exists and is not a report made by this command: choose another --out"
        )
    resolved = out.resolve()
    for d in dirs:
        d = Path(d).resolve()
        if resolved == d or d.is_relative_to(resolved):
            raise UserError(f"--out {out} would replace the results in {d}: choose another --out")


def write_atomically(out: Path, fill: Callable[[Path], None]) -> None:
    """Call `fill(tmp)` on a fresh temporary sibling of `out`, then put it in place of `out`;
    on any error (or Ctrl-C) the temporary directory is removed and `out` is left as it was."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(out)) from None
    try:
        fill(tmp)
        (tmp / MARKER).write_text("made by `robust-tickets report`; safe to replace\n")
        tmp.chmod(0o755)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
