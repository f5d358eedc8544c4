#!/usr/bin/env python
"""Write the documentation's tables that the code owns: the settings of a run, every
scenario's keys, every protocol's parameters and the keys of a sweep's [cluster] table
(docs/parameters.md, all from the same declared `dopasim.params.Param` fields), the
reward circuit's fixed projections (docs/circuit.md), and the generated blocks of the
batch-system page (docs/sweeps-hpc.md: its key table, an example [cluster] table and
the SLURM job script `dopasim.hpc.job_script` writes for it).

    python scripts/gen_docs.py            # rewrite the files
    python scripts/gen_docs.py --check    # exit 1 if any differs from the code

`tests/test_docs.py` runs the check, so the documented tables cannot drift from the code.
"""

import json
import re
import sys
from pathlib import Path

from dopasim.circuits.reward_circuit import RewardCircuitParams, fixed_projection_markdown
from dopasim.circuits.scenarios import SCENARIOS
from dopasim.hpc import CLUSTER_KEYS, job_script
from dopasim.options import OPTIONS
from dopasim.protocols import REGISTRY, get_protocol

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kind(p):
    if p.extra.get("list"):
        return "list of str"
    return f"quantity ({p.unit})" if p.kind == "quantity" else p.kind


def _table(params, first="parameter", cite=False):
    head = f"| {first} | default | kind | allowed | meaning |" + (" source |" if cite else "")
    rule = "|---|---|---|---|---|" + ("---|" if cite else "")
    out = [head, rule]
    for p in params:
        allowed = p.extra.get("allowed") or ("see its meaning" if p.kind == "str" else p.allowed())
        default = "" if p.default is None or isinstance(p.default, dict) else p.default_text()
        if isinstance(p.default, tuple):
            default = ", ".join(p.default)
        row = f"| `{p.name}` | {_cell(default)} | {_kind(p)} | {_cell(allowed)} | {_cell(p.help)} |"
        out.append(row + (f" {_cell(p.cite)} |" if cite else ""))
    return out


def parameters_md():
    out = [
        "# Parameters",
        "",
        "Generated from the code by `python scripts/gen_docs.py`. Every setting, scenario key",
        "and protocol parameter is one declared field (`dopasim.params.Param`); the command",
        "line, the TOML configs, `dopasim list`, validation and these tables all read the",
        "same declarations.",
        "",
        "## Settings of a run or a comparison",
        "",
        "Command-line options (`--seed`, `--seeds`...) and the top-level keys of a",
        "[config file](config.md).",
        "",
        *_table(OPTIONS.values(), "setting"),
        "",
        "## Scenario keys",
        "",
        "`--scenario NAME:KEY=VALUE,...`; see [Scenarios](scenarios.md).",
        "",
    ]
    for name, sc in SCENARIOS.items():
        if not sc.keys:
            continue
        tag = " [hypothesis]" if sc.hypothesis else ""
        out += [f"### `{name}`{tag}", "", sc.summary, ""]
        out += _table(sc.keys.values(), "key", cite=True) + [""]
    out += [
        "## Protocol parameters",
        "",
        "`dopasim run PROTOCOL --param KEY=VALUE` sets one, with a unit where it has one.",
        "",
    ]
    for name in REGISTRY:
        protocol = get_protocol(name)
        out += [f"### `{name}`", "", protocol.SUMMARY, ""]
        out += _table(protocol.PARAMS) + [""]
    out += [
        "## The `[cluster]` table of a sweep",
        "",
        "`dopasim sweep SWEEP.toml --scheduler slurm|pbs|sge|lsf`; see",
        "[On a batch system](sweeps-hpc.md).",
        "",
        *_cluster_table(),
        "",
    ]
    return "\n".join(out)


def _cluster_table():
    return _table(CLUSTER_KEYS.values(), "key")


def circuit_md():
    return "\n".join(
        [
            "# The reward circuit's fixed projections",
            "",
            "Generated from the code by `python scripts/gen_docs.py`",
            "(`dopasim.circuits.reward_circuit.FIXED_PROJECTIONS` at the default",
            "`RewardCircuitParams`). Each synapse gets J / scale × gain; scenarios change",
            "the parameters named in brackets. The plastic corticostriatal projections and",
            "the release synapses into the pools are built apart (their own rules).",
            "",
            fixed_projection_markdown(RewardCircuitParams()),
            "",
        ]
    )


#: An example [cluster] table; docs/sweeps-hpc.md shows it and its SLURM job script.
EXAMPLE_CLUSTER = {
    "queue": "compute",
    "account": "lab42",
    "walltime": "04:00:00",
    "memory": "16GiB",
    "cores": 4,
    "job_script_prologue": [
        "module load gcc/13",
        "source /shared/dopasim-venv/bin/activate",
    ],
    "python": "/shared/dopasim-venv/bin/python",
}
#: The page with generated blocks (between <!-- gen_docs NAME --> and <!-- /gen_docs -->).
HPC_PAGE = "sweeps-hpc.md"


def _toml(table):
    def value(v):
        if isinstance(v, list):
            return "[\n" + "".join(f"    {json.dumps(x)},\n" for x in v) + "]"
        return json.dumps(v)

    return ["[cluster]", *(f"{k} = {value(v)}" for k, v in table.items())]


def _example_script():
    text = job_script("slurm", EXAMPLE_CLUSTER, scheduler_host="127.0.0.1")
    # the address of the scheduler that made it, closed since; the real one is the
    # machine where dopasim runs
    return re.sub(r"tcp://127\.0\.0\.1:\d+", "tcp://LOGIN-NODE:PORT", text).rstrip("\n")


def hpc_blocks():
    return {
        "cluster-keys": _cluster_table(),
        "example-table": ["```toml", *_toml(EXAMPLE_CLUSTER), "```"],
        "slurm-script": ["```bash", _example_script(), "```"],
    }


def hpc_md():
    """docs/sweeps-hpc.md with its generated blocks rewritten; the prose is kept."""
    text = (DOCS / HPC_PAGE).read_text()
    for name, lines in hpc_blocks().items():
        start, end = f"<!-- gen_docs {name} -->", "<!-- /gen_docs -->"
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{HPC_PAGE}: no block '{start} ... {end}'")
        block = "\n".join([start, *lines, end])
        text = pattern.sub(lambda _m, block=block: block, text, count=1)
    return text


FILES = {"parameters.md": parameters_md, "circuit.md": circuit_md, HPC_PAGE: hpc_md}


def main(argv):
    check = argv == ["--check"]
    stale = []
    for fname, make in FILES.items():
        text = make()
        path = DOCS / fname
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(fname)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date with the code: {', '.join(stale)} (run scripts/gen_docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
