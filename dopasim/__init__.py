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

import importlib

from dopasim._version import __version__

__all__ = ["run", "load_run", "compare", "to_neo", "__version__"]

#: The API's functions and the modules that define them, imported on first use: the
#: leaf utilities (``dopasim.params``, ``dopasim.seeding``...) import without Brian2's
#: runner, the export libraries or matplotlib.
_API = {
    "run": "dopasim.runner",
    "load_run": "dopasim.runner",
    "compare": "dopasim.comparison",
    "to_neo": "dopasim.export",
}


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dopasim' has no attribute {name!r}")
