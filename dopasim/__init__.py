"""dopasim: a Brian2 simulator of the brain's reward system.

The Python API mirrors the command line::

    import dopasim
    res = dopasim.run("distal-reward", params={"duration": "600 s"}, seed=2)
    res.metrics["rewarded_weight"], res.path
    again = dopasim.load_run(res.path)
"""

__version__ = "0.1.0"
__all__ = ["run", "load_run", "__version__"]


def run(protocol, **kwargs):
    """Run a protocol; see `dopasim.runner.run`."""
    from dopasim.runner import run as _run

    return _run(protocol, **kwargs)


def load_run(path):
    """Load a run directory; see `dopasim.runner.load_run`."""
    from dopasim.runner import load_run as _load

    return _load(path)
