"""Scenarios: named sets of parameter overrides on the one base reward circuit.

A scenario never copies a model; it returns a changed `RewardCircuitParams`. Scenarios
compose with ``+`` (applied left to right). The SPEC syntax (shared/DESIGN.md)::

    intact
    parkinson:loss=0.75
    parkinson:loss=0.75,compensation=off
    ssri:occupancy=0.8
    ssri:occupancy=0.8,ht2c=off
    hunger:level=1
    medicated:tonic=10nM,dip_block=0.8
    parkinson:loss=0.75+medicated:tonic=10nM

Every scenario key is parsed and range-checked before any Brian2 object exists; errors
are `ParamError` (exit code 2 in the CLI) naming the field, the value and what is
allowed. The overrides act on variables that the compiled code reads at run time (the
DA neurons' ``alive`` flag, the release per spike, the pools' occupancy...), so every
scenario of one protocol shares one compiled build.

Scenarios
---------
intact
    The base circuit.
parkinson:loss=f[,compensation=on|off][,ceiling=c]
    Removes the fraction f of VTA DA neurons (SCIENCE.md section 6). The lesioned
    neurons stay in the population, marked ``lesioned`` and silent, so exported data keep
    their indices. The choice is a random order drawn from the run's ``lesion`` stream
    and cut at round(f N): for one seed, a larger loss removes a superset. Survivors
    compensate by releasing more DA per spike, 1/(1 - f) up to ``ceiling`` times the
    normal release (Zigmond et al. 1990, Trends Neurosci 13:290, review of compensatory
    DA synthesis and release after partial lesions [2nd]). The default 2.5 gives full
    compensation up to 60 % loss and a decline beyond: SCIENCE.md section 6 places
    normal function up to roughly 50-60 % loss and the steep decline between 60 and
    80 % (the ceiling was 4 until the selection protocol existed; it was set from that
    published shape before the Parkinson sweep was run). The lesion is chronic: [DA]
    and the synapses' baseline start at the level the survivors hold (about 12 nM at
    f = 0.75), not at the intact 20 nM. f = 1 leaves no DA neuron: no DA is released,
    the DA-dependent plasticity sees no DA signal, and the run's metadata says so.
    DAT is kept at full strength: the survivors' release factor stands for the net
    compensation that Zigmond et al. (1990) review, of which reduced uptake by the lost
    terminals is a part; scaling DAT with the surviving fraction on top of it would count
    that part twice (and put tonic [DA] at about 59 nM, three times normal, at f = 0.75
    with the default ceiling).
ssri:occupancy=x[,ht2c=on|off][,chronic=sustained|tolerant]
    Blocks the fraction x of SERT (Meyer et al. 2001: about 0.8 at therapeutic doses).
    DAT then carries more of the 5-HT clearance into DA terminals, which co-release it
    with DA (Zhou et al. 2005; see `dopasim.models.pools`). And the raised 5-HT excites
    VTA GABA neurons through 5-HT2C receptors, so they inhibit DA neurons more (the
    5-HT2C route, `dopasim.circuits.reward_circuit.HT2C_EQS`; the VTA's [5-HT] follows
    the striatal pool's ratio to its intact level, and the current is linear in the
    change of occupancy: hypotheses). Its gain ``j_ht2c`` is calibrated once so that
    x = 0.8 lowers the tonic DA rate by 25 % (scripts/calibrate_ht2c.py). ``ht2c=off``
    is the antagonist control (SB 242084): no 5-HT2C current. ``chronic=sustained``
    (default) keeps the full gain: sustained escitalopram lowers VTA DA firing and
    bursting, reversed by SB 242084 (Dremencov, El Mansari & Blier 2009, J Psychiatry
    Neurosci 34:223). ``chronic=tolerant`` scales the gain by ``ht2c_tolerant_fraction``
    (0: after 21 days of fluoxetine an acute challenge no longer lowered VTA DA firing,
    Prisco & Esposito 1995, Br J Pharmacol 116:1923), so by default it acts as
    ``ht2c=off``. metadata.json records the route, its chronic state and its effective
    gain (``circuit_info.ht2c``).
hunger:level=h   [hypothesis; SCIENCE.md section 7]
    A need state from 0 (sated) to 1 (fasted). It moves the punishment's drive to the DA
    neurons from the inhibitory route (via VTA GABA neurons: a pause, a reward-PE code)
    to a direct excitatory route (a burst: an aversive-PE code), in proportion h. Reward
    inputs are unchanged. The fasted end point flips the sign of DA's response to
    aversive outcomes.
medicated:tonic=c,dip_block=q
    Dopaminergic medication as in Frank et al. 2004 / Frank 2005: the striatal synapses
    see an extra tonic DA concentration c, and the drug removes the fraction q of every
    DA dip below the running mean (q = 1: no dip is left), so pauses can no longer drive
    NoGo (D2) learning. Frank's medicated patients, and his medicated networks, are
    partial lesions plus the drug: compose it, ``parkinson:loss=0.75+medicated``.
"""

import math
from dataclasses import dataclass

from brian2 import nmolar

from dopasim.params import ParamError, did_you_mean, parse_quantity

__all__ = ["SCENARIOS", "Scenario", "parse_scenarios", "apply_scenarios", "describe"]


@dataclass(frozen=True)
class _Key:
    kind: str  # 'fraction', 'float', 'onoff', 'quantity', 'choice'
    default: object
    low: float = 0.0
    high: float = 1.0
    unit: object = None
    help: str = ""
    choices: tuple = ()  # the allowed words of a 'choice'

    def parse(self, scenario, key, raw):
        where = f"scenario {scenario}:{key}"
        if self.kind == "onoff":
            value = str(raw).strip().lower()
            if value not in ("on", "off"):
                raise ParamError(f"{where}: {raw!r} is not allowed; allowed: on or off")
            return value == "on"
        if self.kind == "choice":
            value = str(raw).strip().lower()
            if value not in self.choices:
                raise ParamError(
                    f"{where}: {raw!r} is not allowed; allowed: {' or '.join(self.choices)}"
                )
            return value
        if self.kind == "quantity":
            q = parse_quantity(raw, self.unit, where)
            number = float(q / self.unit)
        else:
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ParamError(f"{where}: {raw!r} is not a number") from None
        # unit conversion is not exact (1000 nM / nM = 1000.0000000000001): the bounds
        # get a relative slack of 1e-9
        eps = 1e-9 * max(abs(self.low), abs(self.high), 1.0)
        if not math.isfinite(number) or not (self.low - eps <= number <= self.high + eps):
            unit = f" {self.unit!s}" if self.unit is not None else ""
            raise ParamError(
                f"{where}: {raw!r} is out of range; allowed: {self.low:g}{unit} to {self.high:g}{unit}"
            )
        return q if self.kind == "quantity" else number


@dataclass(frozen=True)
class Scenario:
    """One named scenario: its keys and what it does."""

    name: str
    summary: str
    keys: dict
    hypothesis: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("intact", "the base circuit", {}),
        Scenario(
            "parkinson",
            "loss of a fraction of VTA DA neurons, with compensation by the survivors",
            {
                "loss": _Key("fraction", 0.0, help="fraction of DA neurons removed"),
                "compensation": _Key("onoff", True, help="survivors raise their release"),
                "ceiling": _Key("float", 2.5, low=1.0, high=100.0, help="max release factor"),
            },
        ),
        Scenario(
            "ssri",
            "SERT blocked: DA terminals co-release 5-HT; 5-HT2C receptors excite VTA GABA neurons",
            {
                "occupancy": _Key("fraction", 0.0, help="fraction of SERT blocked"),
                "ht2c": _Key("onoff", True, help="the 5-HT2C route (off: antagonist control)"),
                "chronic": _Key(
                    "choice",
                    "sustained",
                    choices=("sustained", "tolerant"),
                    help="sustained (Dremencov 2009) or tolerant (Prisco 1995)",
                ),
            },
        ),
        Scenario(
            "hunger",
            "need state: DA's response to aversive outcomes flips sign when fasted [hypothesis]",
            {"level": _Key("fraction", 0.0, help="0 sated ... 1 fasted")},
            hypothesis=True,
        ),
        Scenario(
            "medicated",
            "dopaminergic medication: raised tonic DA, floored dips (Frank 2004)",
            {
                "tonic": _Key(
                    "quantity", 10 * nmolar, low=0, high=1000, unit=nmolar, help="extra tonic DA"
                ),
                "dip_block": _Key("fraction", 0.8, help="fraction of each DA dip removed"),
            },
        ),
    )
}


def _parse_one(text):
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in SCENARIOS:
        raise ParamError(
            f"scenario: unknown scenario {name!r}; known: {', '.join(SCENARIOS)}"
            + did_you_mean(name, SCENARIOS, cutoff=0.4)
        )
    sc = SCENARIOS[name]
    values = {k: spec.default for k, spec in sc.keys.items()}
    seen = set()
    if rest.strip():
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ParamError(f"scenario {name}: {item!r} is not KEY=VALUE")
            if key not in sc.keys:
                allowed = ", ".join(sc.keys) or "none"
                raise ParamError(
                    f"scenario {name}: unknown key {key!r}; allowed: {allowed}"
                    + did_you_mean(key, sc.keys)
                )
            if key in seen:
                raise ParamError(f"scenario {name}: key '{key}' is given twice")
            seen.add(key)
            values[key] = sc.keys[key].parse(name, key, raw.strip())
    return name, values


def parse_scenarios(specs):
    """Parse SPEC strings (each may compose with ``+``) into a tuple of (name, values).

    ``intact`` alone (or nothing) gives ``()``. A scenario named twice is an error.
    """
    if isinstance(specs, str):
        specs = [specs]
    parts = []
    for spec in specs or ():
        if not str(spec).strip():
            raise ParamError("scenario: empty SPEC")
        parts.extend(p for p in str(spec).split("+"))
    parsed, names = [], set()
    for part in parts:
        name, values = _parse_one(part)
        if name in names:
            raise ParamError(f"scenario: '{name}' is given twice in one composition")
        names.add(name)
        if name != "intact":
            parsed.append((name, values))
    return tuple(parsed)


def describe(parsed):
    """The canonical SPEC of a parsed composition (``'intact'`` when empty).

    Keys at their default are left out, except each scenario's first key.
    """
    if not parsed:
        return "intact"
    out = []
    for name, values in parsed:
        items = []
        keys = SCENARIOS[name].keys
        for pos, (k, v) in enumerate(values.items()):
            if pos > 0 and bool(v == keys[k].default):
                continue  # defaults are left out (the first key is always shown)
            if isinstance(v, bool):
                v = "on" if v else "off"
            elif isinstance(v, str):
                pass
            elif hasattr(v, "dim"):
                v = f"{float(v / nmolar):g}nM"
            else:
                v = f"{v:g}"
            items.append(f"{k}={v}")
        out.append(f"{name}:{','.join(items)}" if items else name)
    return "+".join(out)


def is_hypothesis(parsed):
    return any(SCENARIOS[name].hypothesis for name, _ in parsed)


def apply_scenarios(parsed, params):
    """Return ``params`` (a `RewardCircuitParams`) with the composition's overrides."""
    for name, v in parsed:
        if name == "parkinson":
            params = params.with_(
                da_loss=v["loss"], da_compensation=v["compensation"], da_comp_ceiling=v["ceiling"]
            )
        elif name == "ssri":
            params = params.with_(
                pools=params.pools.with_(sert_occupancy=v["occupancy"]),
                ht2c=v["ht2c"],
                ht2c_chronic=v["chronic"],
            )
        elif name == "hunger":
            params = params.with_(hunger=v["level"])
        elif name == "medicated":
            params = params.with_(
                pools=params.pools.with_(drug_tonic=v["tonic"], dip_block=v["dip_block"])
            )
    return params
