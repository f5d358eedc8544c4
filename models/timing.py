"""Which clock a Brian2 object runs on: its own time step, or a clock it shares.

Given ``dt`` alone, Brian2 makes each object a clock of its own: a distributional run's
compiled network had 34 clocks, 22 of them the circuit's objects', and every step its
scheduler collected the due ones into a set (an allocation each) and looked up each
object's clock in it: 13 % of the run (``perf``; Brian2 2.10).
Objects given one `brian2.Clock` run in the same order (Brian2 sorts by ``when``,
``order`` and name, not by clock) at the same times (a clock's ``t`` is its step count
times its ``dt``), so their results are identical to the bit.
"""

import numpy as np

__all__ = ["timing"]


def timing(dt=None, clock=None):
    """Brian2's keyword arguments for an object's time base: ``clock`` when given (a
    `brian2.Clock` to share), else ``dt`` (None: Brian2's ``defaultclock``). Given both,
    they must agree (a builder's ``dt`` is its step also when it shares a clock)."""
    if clock is None:
        return {"dt": dt}
    if dt is not None and not np.isclose(float(dt), float(clock.dt_), rtol=1e-12, atol=0):
        raise ValueError(f"dt: {dt} is not the step of the clock '{clock.name}' ({clock.dt})")
    return {"clock": clock}
