"""Equations and default parameters: neurons, synapses and neuromodulator pools.

No wiring and no running happen here; see `dopasim.circuits` and `dopasim.protocols`.
"""
