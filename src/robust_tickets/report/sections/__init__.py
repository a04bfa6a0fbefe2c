"""The page's sections, in page order: each is `build(data) -> parts` (sections/base.py).

summary     the strong-attack finding, the paper's Tables 1-2, per experiment its six sparsities
setting     one part per setting: accuracy against sparsity, every level, training curves
            (setting_curves), surviving initial weights (setting_weights)
robustness  the claim under test (robustness_claim), strong attacks per experiment, robust
            accuracy against eps (robustness_curves), the gradient-masking checks
criteria    pruning criteria compared at matched sparsity

A new section is a module here with a class whose `build` reads `ReportData`, added to SECTIONS.
"""

from __future__ import annotations

from robust_tickets.report.sections.base import Figure, Part, Section
from robust_tickets.report.sections.criteria import CriteriaSection
from robust_tickets.report.sections.robustness import RobustnessSection
from robust_tickets.report.sections.setting import SettingSection
from robust_tickets.report.sections.summary import SummarySection

SECTIONS: tuple[Section, ...] = (
    SummarySection(),
    SettingSection(),
    RobustnessSection(),
    CriteriaSection(),
)

__all__ = ["SECTIONS", "Figure", "Part", "Section"]
