"""Kept for tests/test_evaluate.py, which imports these names from here: the robustness curves
are part of the robustness section (sections/robustness_curves.py), the masking checks are data
(strong.py). Remove once that test imports them from there."""

from robust_tickets.report.sections.robustness_curves import robustness_curves, strong_vs_remaining
from robust_tickets.report.strong import masking_table

__all__ = ["masking_table", "robustness_curves", "strong_vs_remaining"]
