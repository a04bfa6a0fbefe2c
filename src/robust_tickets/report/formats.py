"""A table as data (header, display rows, raw rows, notes) and its Markdown, LaTeX, CSV and
HTML renderings. Display rows are strings; raw rows keep the numbers for CSV."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    slug: str  # file name stem
    title: str
    header: list[str]
    rows: list[list[str]]
    raw_header: list[str]
    raw_rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)


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


def to_html(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.notes)
    return (
        f"<table><caption>{esc(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>" + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )
