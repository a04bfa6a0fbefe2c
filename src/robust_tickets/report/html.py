"""One self-contained HTML page: inline CSS, figures embedded as SVG (`data:` URIs), tables as
HTML.

The only links are relative ones to the same figures and tables as files (SVG, PNG, the CSV of
each figure's data; Markdown, LaTeX, CSV of each table) beside the page; the page itself needs
nothing else, offline or online.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from robust_tickets.report.formats import Table, to_html

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 max-width:1280px;margin:1.5em auto;padding:0 1.5em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.3em} h2{margin-top:2em;border-bottom:2px solid #ddd;
 padding-bottom:.2em}
code{font-size:.92em;overflow-wrap:anywhere}
table.meta{font-size:.9em;margin:.3em 0 1.2em 0;width:100%}
table.meta caption{font-size:1.05em;border-bottom:1px solid #ddd}
table.meta th{background:none;border:none;text-align:left;vertical-align:top;
 padding-right:1em;color:#555;font-weight:600;white-space:nowrap;width:11em}
table.meta td{text-align:left;white-space:normal;border:none}
nav ul{columns:2;font-size:.92em}
figure{margin:1.2em 0 2em 0;overflow-x:auto}
figure img{max-width:100%;height:auto;border:1px solid #eee;box-sizing:border-box}
figcaption{font-size:.92em;color:#333;margin-top:.4em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0 .3em 0;font-size:.85em;
 font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding-bottom:.4em}
th,td{padding:.25em .5em;text-align:right;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{background:#f5f5f7;border-bottom:2px solid #ccc;font-weight:600}
td.long{overflow-wrap:anywhere}
td:first-child,th:first-child{text-align:left}
.notes{font-size:.85em;color:#555;margin-top:.2em;max-width:1100px}
.files{font-size:.85em} .files a{margin-right:.6em}
.note{background:#eef5fc;border-left:4px solid #4a90d9;padding:.5em 1em;font-size:.92em;
 max-width:1100px}
.missing{background:#fff7e6;border-left:4px solid #f0a020;padding:.6em 1em;font-size:.9em}
.scroll{overflow-x:auto}
"""


@dataclass
class FigureItem:
    title: str
    caption: str
    svg: bytes
    width_px: int  # shown at the figure's size in inches x 96 (CSS pixels), at most the column
    files: list[str]  # relative paths of the saved SVG, PNG and data CSV


@dataclass
class TableItem:
    table: Table
    files: list[str]  # relative paths of the saved Markdown/LaTeX/CSV


@dataclass
class Note:
    text: str  # plain text, escaped when rendered
    code: bool = False  # a command line: shown as code


@dataclass
class MetaGroup:
    """One block of the header: a heading (already-escaped HTML) and its (field, HTML) rows."""

    heading: str
    rows: list[tuple[str, str]]


@dataclass
class PageSection:
    title: str
    anchor: str
    intro: str = ""  # already-escaped HTML
    blocks: list[FigureItem | TableItem | Note] = field(default_factory=list)


def _files(paths: list[str]) -> str:
    names = {"csv": "data (CSV)"}
    links = " ".join(
        f'<a href="{html.escape(p)}">'
        f"{html.escape(names.get(p.rsplit('.', 1)[-1], p.rsplit('.', 1)[-1].upper()))}</a>"
        for p in paths
    )
    return f'<div class="files">files: {links}</div>'


def _figure(item: FigureItem) -> str:
    data = base64.b64encode(item.svg).decode("ascii")
    return (
        # Shrinks to the column, but not below 900 px (or its own size): on a narrow window a
        # wide figure scrolls sideways rather than shrinking its text below ~10 px.
        f'<figure><img alt="{html.escape(item.title)}" width="{item.width_px}" '
        f'style="min-width:{min(900, item.width_px)}px" '
        f'src="data:image/svg+xml;base64,{data}">'
        f"<figcaption><b>{html.escape(item.title)}.</b> {html.escape(item.caption)}"
        f"{_files(item.files)}</figcaption></figure>"
    )


def _note(note: Note) -> str:
    text = f"<code>{html.escape(note.text)}</code>" if note.code else html.escape(note.text)
    return f'<p class="note">{text}</p>'


def render_page(
    title: str, meta: list[MetaGroup], missing: list[str], sections: list[PageSection]
) -> str:
    """`meta`: the header's blocks, one per experiment and one for the report itself, each
    under its own heading so that several experiments do not run together."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for group in meta:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in group.rows)
        parts.append(
            f'<table class="meta"><caption>{group.heading}</caption><tbody>{rows}</tbody></table>'
        )
    if missing:
        items = "".join(f"<li>{esc(m)}</li>" for m in missing)
        parts.append(
            f'<div class="missing"><b>Incomplete results</b>: the figures and tables show '
            f"what exists; missing:<ul>{items}</ul></div>"
        )
    toc = "".join(f'<li><a href="#{s.anchor}">{esc(s.title)}</a></li>' for s in sections)
    parts.append(f"<nav><h2>Contents</h2><ul>{toc}</ul></nav>")
    for section in sections:
        parts.append(f'<h2 id="{section.anchor}">{esc(section.title)}</h2>')
        if section.intro:
            parts.append(f"<p>{section.intro}</p>")
        for block in section.blocks:
            if isinstance(block, TableItem):
                parts.append(
                    f'<div class="scroll">{to_html(block.table)}</div>{_files(block.files)}'
                )
            elif isinstance(block, Note):
                parts.append(_note(block))
            else:
                parts.append(_figure(block))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
