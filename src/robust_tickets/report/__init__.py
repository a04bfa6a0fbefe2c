"""The report: the paper's figures and tables from any set of runs, as one HTML page.

load.py (store -> series of curves) -> aggregate.py (values at an iteration, early stopping,
mean ± std) -> figures.py / tables.py (+ formats.py) -> html.py; build.py puts them together
and writes REPORT_DIR atomically. paper.py holds the paper's published numbers.
"""

from robust_tickets.report.build import DEFAULT_AT, build_report

__all__ = ["DEFAULT_AT", "build_report"]
