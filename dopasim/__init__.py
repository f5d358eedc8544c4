"""dopasim: a Brian2 simulator of the brain's reward system.

The Python API mirrors the command line::

    import dopasim
    res = dopasim.run("conditioning", params={"n_trials": "100"}, seed=2)
    res.metrics["late_cs_ratio"], res.path
    again = dopasim.load_run(res.path)
    table = dopasim.compare("probabilistic-selection",
                            ["intact", "parkinson:loss=0.75"], seeds=3, jobs=2)
    table["rows"], table["out"]
    block = dopasim.to_neo(res.path)        # needs the neo extra
"""

from dopasim._version import __version__
from dopasim.comparison import compare
from dopasim.export import to_neo
from dopasim.runner import load_run, run

__all__ = ["run", "load_run", "compare", "to_neo", "__version__"]
