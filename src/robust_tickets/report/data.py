"""Everything a report shows, read from the store once: every experiment's series, grouped into
settings; the rows `evaluate` wrote, as strong-attack results and masking checks; the published
replication used as a reference. The sections only read this; none of them opens a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_tickets.report.load import Series, Setting, group_settings, load_series
from robust_tickets.report.paper import PAPER_ITERATION
from robust_tickets.report.plot import Reference
from robust_tickets.report.replication import (
    load_robustness,
    load_rows,
    reference_for,
    robustness_path,
)
from robust_tickets.report.strong import StrongAttacks, group, masking_table
from robust_tickets.report.style import method_tag
from robust_tickets.results import iter_rows

DEFAULT_AT = PAPER_ITERATION  # the tables read the paper's iteration unless asked otherwise


@dataclass
class ReportData:
    dirs: list[Path]
    at: int  # the iteration the tables read (the paper's 30,000 unless asked otherwise)
    series: list[Series]
    settings: list[Setting]
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # training and evaluate rows
    strongs: list[StrongAttacks] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # masking checks, one per network
    replication_rows: list[dict[str, Any]] = field(default_factory=list)
    replication_strong: list[dict[str, Any]] = field(default_factory=list)

    def reference(self, flat: dict[str, Any]) -> Reference | None:
        """The published replication's points for the setting of `flat`, if it has any (the
        replication prunes by magnitude, so a setting with another method has none)."""
        if method_tag(flat):
            return None
        found = reference_for(self.replication_rows, flat, PAPER_ITERATION)
        return found[0] if found else None

    def path(self, experiment: str) -> Path | str:
        """Where an experiment was read from (its name if unknown)."""
        return next((s.paths[0] for s in self.series if s.name == experiment), experiment)

    def series_named(self, experiment: str) -> Series | None:
        return next((s for s in self.series if s.name == experiment), None)


def load_data(dirs: list[Path], at: int, replication: Path | None = None) -> ReportData:
    """Read the results under `dirs` (UserError when none has an evaluated level) and the
    replication CSV (with the robustness.csv beside it, when there is one)."""
    series = load_series(dirs)
    settings = group_settings(series)
    eval_rows = list(iter_rows(dirs, include_eval=True))
    configs = {s.name: s.flat for s in series}
    strongs = group(eval_rows, configs)
    titles = {s.name: s.title for s in series}
    for strong in strongs:  # told apart from other settings the way the page's sections are
        strong.title = titles.get(strong.experiment, strong.title)
    data = ReportData(
        dirs=list(dirs),
        at=at,
        series=series,
        settings=settings,
        eval_rows=eval_rows,
        strongs=strongs,
        checks=masking_table(eval_rows),
    )
    if replication is not None:
        data.replication_rows = load_rows(replication)
        if robustness_path(replication).is_file():
            data.replication_strong = load_robustness(robustness_path(replication))
    return data
