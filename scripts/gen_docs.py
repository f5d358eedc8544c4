#!/usr/bin/env python
"""Write the documentation's tables that the code owns: the settings of a run, every
scenario's keys and every protocol's parameters (docs/parameters.md, all from the same
declared `dopasim.params.Param` fields) and the reward circuit's fixed projections
(docs/circuit.md).

    python scripts/gen_docs.py            # rewrite both files
    python scripts/gen_docs.py --check    # exit 1 if either differs from the code

`tests/test_docs.py` runs the check, so the documented tables cannot drift from the code.
"""

import sys
from pathlib import Path

from dopasim.circuits.reward_circuit import RewardCircuitParams, fixed_projection_markdown
from dopasim.circuits.scenarios import SCENARIOS
from dopasim.options import OPTIONS
from dopasim.protocols import REGISTRY, get_protocol

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kind(p):
    return f"quantity ({p.unit})" if p.kind == "quantity" else p.kind


def _table(params, first="parameter", cite=False):
    head = f"| {first} | default | kind | allowed | meaning |" + (" source |" if cite else "")
    rule = "|---|---|---|---|---|" + ("---|" if cite else "")
    out = [head, rule]
    for p in params:
        allowed = "see its meaning" if p.kind == "str" else p.allowed()
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
    return "\n".join(out)


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


FILES = {"parameters.md": parameters_md, "circuit.md": circuit_md}


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
