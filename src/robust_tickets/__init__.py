"""robust_tickets: sparse, adversarially robust lottery tickets, measured honestly."""

__version__ = "0.1.0"
