"""dopasim: a Brian2 simulator of the brain's reward system.

The Python API mirrors the command line::

    import dopasim
    res = dopasim.run("distal-reward", params={"duration": "600 s"}, seed=2)
    res.metrics["rewarded_weight"], res.path
    again = dopasim.load_run(res.path)
"""

__version__ = "0.6.0"
__all__ = ["run", "load_run", "to_neo", "__version__"]


def run(protocol, **kwargs):
    """Run a protocol; see `dopasim.runner.run`."""
    from dopasim.runner import run as _run

    return _run(protocol, **kwargs)


def load_run(path):
    """Load a run directory; see `dopasim.runner.load_run`."""
    from dopasim.runner import load_run as _load

    return _load(path)


def to_neo(run_or_path):
    """A `neo.Block` of a run (or runs); see `dopasim.export.to_neo` (neo is imported then)."""
    from dopasim.export import to_neo as _to_neo

    return _to_neo(run_or_path)
