"""The settings of a run or a comparison, declared once.

Each setting is a `dopasim.params.Param`; the command line (``--seed``, ``--seeds``,
``--jobs``, ``--device``...), the TOML configs (`dopasim.config`), `dopasim.runner.prepare`
and `dopasim.comparison.compare` parse and check them through these declarations, and
``docs/config.md`` prints them (``scripts/gen_docs.py``).
"""

from dopasim.device import DEVICES
from dopasim.params import Param

__all__ = ["OPTIONS", "RUN_ONLY", "COMPARE_ONLY", "SCHEDULING", "option"]

#: Every setting of a run or a comparison, in the order the docs list them.
OPTIONS = {
    p.name: p
    for p in (
        Param("protocol", None, "str", "protocol name (`dopasim list`)"),
        Param("kind", None, "choice", "a single run or a comparison", choices=("run", "compare")),
        Param(
            "scenarios",
            ("intact",),
            "str",
            "scenario SPECs; a run takes one (compose with +), a comparison one or more, "
            "the first being the reference",
        ),
        Param("seed", 1, "int", "master seed of a run", low=0, high=2**32 - 1),
        Param("seeds", 3, "int", "paired seeds 1..N of a comparison", low=1),
        Param("jobs", 1, "int", "worker processes of a comparison", low=1),
        Param("device", "cpp_standalone", "choice", "Brian2 device", choices=DEVICES),
        Param("duration", None, "str", "the protocol's duration parameter, with a unit"),
        Param("out", None, "str", "run directory (run) or output folder (compare)"),
        Param("overwrite", False, "bool", "replace existing output"),
        Param("quiet", False, "bool", "no progress on stderr"),
        Param("figures", True, "bool", "write the PNG figures (run)"),
        Param("export", None, "str", "also export the spikes: nwb, sonata, csv, npz"),
        Param("params", {}, "str", "protocol parameters (`--param KEY=VALUE`, `[params]`)"),
        Param(
            "scheduler",
            "local",
            "str",
            "where the runs execute: local, dask, tcp://HOST:PORT, slurm, pbs, sge, lsf",
        ),
        Param("resume", False, "bool", "keep the complete runs of --out, run the rest"),
        Param("retry_failed", False, "bool", "with resume: rerun failed runs too"),
        Param("retries", 2, "int", "reschedules of a run whose worker was lost (Dask)", low=0),
    )
}
RUN_ONLY = ("seed", "figures", "export")
COMPARE_ONLY = ("seeds", "jobs")
#: Where runs execute (compare and sweep): command-line options, not config-file keys.
SCHEDULING = ("scheduler", "resume", "retry_failed", "retries")


def option(name, raw, where=None):
    """``raw`` parsed and checked as the setting ``name`` (errors name ``where``)."""
    return OPTIONS[name].parse(raw, where or name)
