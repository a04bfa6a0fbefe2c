"""A table as data (header, display rows, raw rows, notes), how its cells are written (mean ±
std, Δ ± its uncertainty), and its Markdown, LaTeX, CSV and HTML renderings. Display rows are
strings; raw rows keep the numbers for CSV."""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

from robust_tickets.report.aggregate import Stat
from robust_tickets.report.paper import PAPER_TRIALS, PaperCell


@dataclass
class Table:
    slug: str  # file name stem
    title: str
    header: list[str]
    rows: list[list[str]]
    raw_header: list[str]
    raw_rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)


# ---- cells ----------------------------------------------------------------------------------
STD_NOTE = "Cells: mean ± sample standard deviation (ddof=1) over trials, in percent."


def fmt_stat(stat: Stat) -> str:
    """ "81.23 ± 0.45"; a single trial has no spread, so its mean alone; "—" for none."""
    if stat.n == 0:
        return "—"
    if math.isnan(stat.std):
        return f"{stat.mean * 100:.2f}"
    return f"{stat.mean * 100:.2f} ± {stat.std * 100:.2f}"


def fmt_reference(mean: float, std: float) -> str:
    """A published value in percent: "84.37 ± 0.20", or "84.37" from a single trial (NaN std;
    never "± 0.00", which would claim a spread that was not measured)."""
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def pct_or_none(value: float) -> float | None:
    return None if math.isnan(value) else round(value * 100, 4)


def shown(value: float) -> float:
    """A percentage as the table prints it (2 decimals), so Δ is computed from what is read."""
    return round(value, 2)


def diff_cell(ours: Stat, paper: PaperCell) -> tuple[str, float | None, float | None]:
    """Δ = ours − paper from the displayed values, with its uncertainty: the standard error of
    a difference of two means, √(s²/n + s_p²/n_p), from both stds (none when n < 2)."""
    if ours.n == 0:
        return "—", None, None
    diff = shown(ours.mean * 100) - paper.mean
    if ours.n < 2 or math.isnan(ours.std):
        return f"{diff:+.2f} (n=1)".replace("-", "−"), round(diff, 2), None
    u = math.sqrt(shown(ours.std * 100) ** 2 / ours.n + paper.std**2 / PAPER_TRIALS)
    return f"{diff:+.2f} ± {u:.2f}".replace("-", "−"), round(diff, 2), round(u, 2)


# ---- renderings -----------------------------------------------------------------------------
def to_markdown(table: Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"**{table.title}**", "", line(table.header)]
    out.append("|" + "|".join("---" for _ in table.header) + "|")
    out += [line(row) for row in table.rows]
    out += ["", *(f"- {note}" for note in table.notes)] if table.notes else []
    return "\n".join(out) + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "ε": r"$\varepsilon$",
    "Δ": r"$\Delta$",
    "→": r"$\to$",
    "−": "-",
    "·": r"$\cdot$",
    "—": "--",
    "≤": r"$\leq$",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); the notes go below it."""
    cols = "l" + "r" * (len(table.header) - 1)
    out = [
        "\\begin{table}[ht]",
        "\\centering",
        f"\\caption{{{tex_escape(table.title)}}}",
        f"\\begin{{tabular}}{{{cols}}}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in table.header) + " \\\\",
        "\\midrule",
        *(" & ".join(tex_escape(c) for c in row) + " \\\\" for row in table.rows),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    if table.notes:
        out.append(
            "\\par\\smallskip{\\footnotesize " + " ".join(tex_escape(n) for n in table.notes) + "}"
        )
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.raw_header)
    writer.writerows(["" if v is None else v for v in row] for row in table.raw_rows)
    return buffer.getvalue()


# Cells wrap, so that a wide table fits a 1,024 px window, but never inside a number: "81.23 ±
# 0.45" keeps its parts together (non-breaking spaces), a note after it ("(n=1)", "(−1.3)") may
# go to the next line; a long name (an experiment's, without spaces) may break anywhere.
KEEP_TOGETHER = "\u00a0±\u00a0"
_NUMBER = re.compile(r"^[−+\-]?[\d.,]+( ± [\d.]+)?( \([^)]*\))?( \[n=\d+\])?%?$")


def to_html(table: Table) -> str:
    esc = html.escape

    def cell(text: str) -> str:
        if _NUMBER.match(text) or text in ("—", ""):
            return f'<td class="num">{esc(text).replace(" ± ", KEEP_TOGETHER)}</td>'
        # only a word too long for any column (an experiment's name) may break inside: letting
        # every word do so would make the browser squeeze columns into "adversari-al"
        long = " long" if any(len(word) > 24 for word in text.split()) else ""
        return f'<td class="text{long}">{esc(text)}</td>'

    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.notes)
    return (
        f"<table><caption>{esc(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>" + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )
