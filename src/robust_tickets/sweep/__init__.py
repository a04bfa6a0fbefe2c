"""Sweeps: a grid of experiments as independent (config, trial) jobs, run locally or on Ray.

    jobs = load_grid("configs/quick.yaml")
    result = run_sweep(jobs, EXECUTORS.get("local")(jobs=2), Path("results"))

A job writes to the same results store as `robust-tickets run`; finished jobs are skipped, a job
killed halfway resumes from its checkpoint, failures are retried then reported, and a claim
file per job keeps two sweeps over one store from running the same job at once.
"""

from robust_tickets.sweep.executors import EXECUTORS
from robust_tickets.sweep.grid import expand, load_grid
from robust_tickets.sweep.jobs import Job
from robust_tickets.sweep.scheduler import run_sweep
from robust_tickets.sweep.state import JobState, SweepResult

__all__ = ["EXECUTORS", "Job", "JobState", "SweepResult", "expand", "load_grid", "run_sweep"]
