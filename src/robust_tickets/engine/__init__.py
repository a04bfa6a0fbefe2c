"""The training engine: one trial's levels (a short loop with callbacks) and the pool that runs the
levels of several trials on worker processes.

Deliberately empty: `run` imports `engine.prestart` before torch, and importing any module of a
package runs its `__init__` first.
"""
