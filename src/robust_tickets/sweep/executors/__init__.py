"""Executors by name. Each entry is a factory, imported only when chosen (Ray is optional)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robust_tickets.registry import Registry
from robust_tickets.sweep.executors.base import Executor, Outcome

EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor")


@EXECUTORS.register("local")
def _local(**options: Any) -> Executor:
    from robust_tickets.sweep.executors.local import LocalExecutor

    return LocalExecutor(**options)


@EXECUTORS.register("ray")
def _ray(**options: Any) -> Executor:
    from robust_tickets.sweep.executors.ray import RayExecutor

    return RayExecutor(**options)


__all__ = ["EXECUTORS", "Executor", "Outcome"]
