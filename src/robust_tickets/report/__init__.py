"""The report: the paper's figures and tables from any set of runs, as one HTML page.

data.py loads everything once (load.py: store -> series; strong.py: evaluate's rows;
replication.py: docs/replication) -> sections/ (one module per section of the page, each
`build(data) -> parts`, using aggregate.py for statistics, plot.py for figures, formats.py for
tables, paper.py for the paper's numbers, style.py for names and colours) -> build.py writes
their files (writer.py, atomically) and the page (html.py, header.py).
"""

from robust_tickets.report.build import DEFAULT_AT, build_report

__all__ = ["DEFAULT_AT", "build_report"]
