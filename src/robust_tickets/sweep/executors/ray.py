"""Run jobs as Ray tasks: on a running cluster (`address="auto"`, host:port or ray://...) or,
without an address, on a Ray instance started here. Needs the optional extra:
`pip install robust_tickets[ray]`.

Every node must have robust_tickets (same version) and the dataset installed, and see the
results directory at the same path (a shared filesystem): workers write the store directly,
exactly as `robust-tickets run` does, and refuse to run if they see a different store.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from robust_tickets.errors import UserError
from robust_tickets.sweep.executors.base import Outcome
from robust_tickets.sweep.jobs import JobSpec, one_line, run_job

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
except ImportError:  # reported when the executor is created, not when the module is read
    ray = None  # type: ignore[assignment]


def _run_remote(spec: JobSpec) -> dict[str, Any]:
    return run_job(spec)


class RayExecutor:
    """Submits at most `slots` jobs at once, each a task with `cpus_per_job` CPUs and
    `gpus_per_job` GPUs (Ray places it where those are free; GPU jobs run on `cuda`)."""

    def __init__(
        self,
        address: str | None = None,
        jobs: int | None = None,
        cpus_per_job: float = 1.0,
        gpus_per_job: float = 0.0,
        threads: int | None = None,
        device: str | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if ray is None:
            raise UserError(
                "the ray executor needs Ray: `pip install 'robust_tickets[ray]'` "
                "(or use --executor local)"
            )
        if jobs is not None and jobs < 1:
            raise UserError("--jobs must be at least 1")
        if cpus_per_job <= 0 or gpus_per_job < 0:
            raise UserError("--cpus-per-job must be > 0 and --gpus-per-job >= 0")
        self._owns = not ray.is_initialized()
        if self._owns:
            options = {"include_dashboard": False, "log_to_driver": False, **(init_options or {})}
            try:
                ray.init(address=address, **options)
            except (ConnectionError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
                raise UserError(
                    f"cannot connect to a Ray cluster at {address}: {first} "
                    "(start one with `ray start --head`, or leave out --address)"
                ) from None
        resources = ray.cluster_resources()
        fits = int(resources.get("CPU", 1) // cpus_per_job)
        if gpus_per_job > 0:
            fits = min(fits, int(resources.get("GPU", 0) // gpus_per_job))
            if fits < 1:
                raise UserError(
                    f"the Ray cluster has {resources.get('GPU', 0):g} GPU(s): "
                    f"a job asks for {gpus_per_job:g}; lower --gpus-per-job"
                )
        self.slots = jobs or max(1, fits)
        self.threads = threads or max(1, math.floor(cpus_per_job))
        self.device = device or ("cuda" if gpus_per_job > 0 else "cpu")
        # Without an address Ray joins RAY_ADDRESS or a `ray start` cluster of this machine,
        # else starts a private instance.
        where = f"Ray cluster at {address}" if address else "Ray on this machine"
        self.description = (
            f"ray: {where} ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs), "
            f"{self.slots} job(s) at once, {cpus_per_job:g} CPU / {gpus_per_job:g} GPU per job"
        )
        # Retries are the sweep's (same rules for every executor), so Ray's are off.
        self._remote = ray.remote(_run_remote).options(
            num_cpus=cpus_per_job, num_gpus=gpus_per_job, max_retries=0
        )
        self._refs: dict[Any, str] = {}

    def prepare(self, spec: JobSpec) -> JobSpec:
        return dataclasses.replace(spec, threads=self.threads, device=self.device)

    def submit(self, key: str, spec: JobSpec) -> None:
        self._refs[self._remote.remote(spec)] = key

    def wait(self, timeout: float) -> list[tuple[str, Outcome]]:
        if not self._refs:
            import time

            time.sleep(timeout)
            return []
        ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        finished = []
        for ref in ready:
            key = self._refs.pop(ref)
            try:
                outcome = Outcome(ok=True, info=ray.get(ref))
            except RayTaskError as exc:  # the job raised: report its own error
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                outcome = Outcome(ok=False, error=one_line(cause), detail=str(exc))
            except RayError as exc:  # the worker or its node died
                outcome = Outcome(ok=False, error=one_line(exc), detail=str(exc))
            finished.append((key, outcome))
        return finished

    def shutdown(self) -> None:
        for ref in list(self._refs):
            ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns:
            ray.shutdown()
