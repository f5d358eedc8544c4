#!/usr/bin/env python
"""Write the documentation's tables that the code owns: every protocol's parameters
(docs/parameters.md) and the reward circuit's fixed projections (docs/circuit.md).

    python scripts/gen_docs.py            # rewrite both files
    python scripts/gen_docs.py --check    # exit 1 if either differs from the code

`tests/test_docs.py` runs the check, so the documented tables cannot drift from the code.
"""

import sys
from pathlib import Path

from dopasim.circuits.reward_circuit import RewardCircuitParams, fixed_projection_markdown
from dopasim.protocols import REGISTRY, get_protocol

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _range(p):
    if p.kind == "choice":
        return ", ".join(f"`{c}`" for c in p.choices)
    lo = "" if p.low is None else f"{'>' if p.low_open else '≥'} {p.low:g}"
    hi = "" if p.high is None else f"{'<' if p.high_open else '≤'} {p.high:g}"
    return "; ".join(x for x in (lo, hi) if x)


def _default(p):
    if p.kind == "quantity" and p.unit is not None:
        return f"{float(p.default / p.unit):g} {p.unit}"
    return p.default


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def parameters_md():
    out = [
        "# Protocol parameters",
        "",
        "Generated from the code by `python scripts/gen_docs.py` (each protocol's `PARAMS`);",
        "`dopasim run PROTOCOL --param KEY=VALUE` sets one, with a unit where it has one.",
        "",
    ]
    for name in REGISTRY:
        protocol = get_protocol(name)
        out += [f"## `{name}`", "", protocol.SUMMARY, ""]
        out += ["| parameter | default | kind | allowed | meaning |", "|---|---|---|---|---|"]
        for p in protocol.PARAMS:
            kind = f"quantity ({p.unit})" if p.kind == "quantity" else p.kind
            out.append(
                f"| `{p.name}` | {_cell(_default(p))} | {kind} | {_cell(_range(p))} | "
                f"{_cell(p.help)} |"
            )
        out.append("")
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
