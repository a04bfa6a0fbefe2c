"""What a section is: `build(data) -> parts`, each part one heading of the page with its items
(figures not yet written, tables, notes). Sections never touch the file system; the builder
writes their figures and tables and renders the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from robust_tickets.report.data import ReportData
from robust_tickets.report.formats import Table
from robust_tickets.report.html import Note
from robust_tickets.report.plot import Drawn


@dataclass
class Figure:
    """A drawn figure, the stem of its files and its title on the page."""

    drawn: Drawn
    stem: str
    title: str


Item = Figure | Table | Note


@dataclass
class Part:
    """One heading of the page: a title, its anchor, an intro (plain text) and its items."""

    title: str
    anchor: str
    intro: str = ""
    items: list[Item] = field(default_factory=list)

    def add(self, item: Item | None) -> None:
        if item is not None:
            self.items.append(item)

    def figure(self, drawn: Drawn | None, stem: str, title: str) -> None:
        if drawn is not None:
            self.items.append(Figure(drawn, stem, title))


class Section(Protocol):
    def build(self, data: ReportData) -> list[Part]: ...
