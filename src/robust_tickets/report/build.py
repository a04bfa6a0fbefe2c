"""Build a report directory: load the data once, let each section build its parts, write their
figures and tables, render the page; the directory is replaced whole (writer.py)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

from robust_tickets.errors import UserError
from robust_tickets.report.data import DEFAULT_AT, ReportData, load_data
from robust_tickets.report.formats import Table
from robust_tickets.report.header import header_groups
from robust_tickets.report.html import Note, PageSection, render_page
from robust_tickets.report.plot import STYLE
from robust_tickets.report.sections import SECTIONS, Figure
from robust_tickets.report.writer import ReportWriter, check_out, default_out, write_atomically

__all__ = ["DEFAULT_AT", "build_report"]


def build_report(
    dirs: list[Path],
    out: Path | None = None,
    at: int = DEFAULT_AT,
    replication: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Write the report of the results under `dirs` to `out`; returns the path of index.html.
    `replication`: a `results --csv` file drawn as a reference (None: none); `say` is told
    each phase (loading, each section, writing), so a long report is not silent."""
    say = say or (lambda message: None)
    dirs = [Path(d) for d in dirs]
    if at < 0:
        raise UserError("--at-iteration must be >= 0")
    out = Path(out) if out is not None else default_out(dirs)
    check_out(out, dirs)
    began = time.perf_counter()
    say(f"report: reading {', '.join(str(d) for d in dirs)}")
    data = load_data(dirs, at, replication)  # UserError when there is nothing to report
    say(f"report: {len(data.series)} experiment(s) loaded in {time.perf_counter() - began:.0f} s")
    with matplotlib.rc_context(STYLE):
        write_atomically(out, lambda root: write_page(root, data, say))
    say(f"report: written in {time.perf_counter() - began:.0f} s")
    return (out / "index.html").resolve()


def write_page(root: Path, data: ReportData, say: Callable[[str], None] | None = None) -> Path:
    """Every section's parts, their figures and tables written under `root`, then the page."""
    writer = ReportWriter(root)
    page: list[PageSection] = []
    for section in SECTIONS:
        if say is not None:
            say(f"report: section {type(section).__name__.removesuffix('Section').lower()}")
        for part in section.build(data):
            blocks = []
            for item in part.items:
                if isinstance(item, Figure):
                    blocks.append(writer.figure(item.drawn, item.stem, item.title))
                elif isinstance(item, Table):
                    blocks.append(writer.table(item))
                else:
                    assert isinstance(item, Note)
                    blocks.append(item)
            page.append(PageSection(part.title, part.anchor, html.escape(part.intro), blocks))
    missing = [f"{s.name}: {note}" for s in data.series for note in s.notes]
    index = root / "index.html"
    index.write_text(render_page("robust_tickets report", header_groups(data), missing, page))
    return index
