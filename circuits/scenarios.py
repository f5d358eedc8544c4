"""
Scenarios: named sets of overrides on the one base reward circuit
==================================================================

Description
-----------
A scenario never copies a model; its ``apply`` returns a changed `RewardCircuitParams`.
Scenarios compose with ``+`` (applied left to right)::

    intact
    parkinson:loss=0.75
    parkinson:loss=0.75,compensation=off
    ssri:occupancy=0.8,ht2c=off
    hunger:level=1
    parkinson:loss=0.75+medicated:tonic=10nM

Every key is a declared `dopasim.params.Param` (unit, range, default, help, source),
parsed and range-checked before any Brian2 object exists; errors are `ParamError`
(exit code 2 in the CLI) naming the field, the value and what is allowed. The overrides
act on variables that the compiled code reads at run time (the DA neurons' ``alive``
flag, the release per spike, the pools' occupancy...), so every scenario of one protocol
shares one compiled build. ``dopasim list`` prints every key with its default and range.

parkinson
    Removes the fraction ``loss`` of VTA DA neurons. They stay in the population, marked
    ``lesioned`` and silent, so exported data keep their indices; the choice is a random
    order drawn from the run's ``lesion`` stream and cut at round(loss N), so for one
    seed a larger loss removes a superset. Survivors release 1/(1 - loss) more DA per
    spike, at most ``ceiling`` times the normal release (compensation, Zigmond et al.
    1990): with 2.5 it is complete up to 60 % loss and declines beyond, the published
    shape of normal function up to 50-60 % loss and a steep decline between 60 and 80 %
    (Bernheimer et al. 1973). The lesion is chronic: [DA] and the synapses' baseline
    start at the survivors' level. loss = 1 leaves no DA neuron and the run's metadata
    says so. DAT stays at full strength: the release factor stands for the net
    compensation, of which reduced uptake by lost terminals is a part.
ssri
    Blocks the fraction ``occupancy`` of SERT (about 0.8 at therapeutic doses, Meyer et
    al. 2001). DAT then carries more of the 5-HT clearance into DA terminals, which
    co-release it with DA (Zhou et al. 2005; `dopasim.models.pools`), and the raised 5-HT
    excites VTA GABA neurons through 5-HT2C receptors, which inhibit DA neurons (the VTA's
    [5-HT] follows the striatal pool's ratio to its intact level, and the current is
    linear in the change of occupancy: hypotheses). The gain ``j_ht2c`` is calibrated so
    that occupancy 0.8 lowers the tonic DA rate by 25 % (scripts/calibrate_ht2c.py).
    ``ht2c=off`` is the antagonist control (SB 242084); ``chronic=sustained`` keeps the
    gain (Dremencov et al. 2009), ``chronic=tolerant`` scales it by
    ``ht2c_tolerant_fraction`` (0 by default: Prisco & Esposito 1995).
hunger [hypothesis]
    A need state from 0 (sated) to 1 (fasted). It moves the punishment's drive to the DA
    neurons from the inhibitory route (via VTA GABA neurons: a pause) to a direct
    excitatory one (a burst), in proportion to ``level``. No direct measurement.
medicated
    Dopaminergic medication as in Frank et al. 2004 and Frank 2005: the striatal
    synapses see an extra tonic DA concentration ``tonic``, and the drug removes the
    fraction ``dip_block`` of every DA dip below the running mean, so pauses can no
    longer drive NoGo (D2) learning [hypothesis]. Frank's medicated patients are partial
    lesions plus the drug: compose it, ``parkinson:loss=0.75+medicated``.

References
----------
Bernheimer H, Birkmayer W, Hornykiewicz O, Jellinger K, Seitelberger F (1973). Brain
    dopamine and the syndromes of Parkinson and Huntington. J Neurol Sci 20:415-455.
    https://doi.org/10.1016/0022-510X(73)90175-5
Dremencov E, El Mansari M, Blier P (2009). Effects of sustained serotonin reuptake
    inhibition on the firing of dopamine neurons in the rat ventral tegmental area.
    J Psychiatry Neurosci 34:223-229.
Frank MJ, Seeberger LC, O'Reilly RC (2004). By carrot or by stick: cognitive
    reinforcement learning in parkinsonism. Science 306:1940-1943.
    https://doi.org/10.1126/science.1102941
Frank MJ (2005). Dynamic dopamine modulation in the basal ganglia. J Cogn Neurosci
    17:51-72. https://doi.org/10.1162/0898929052880093
Meyer JH et al. (2001). Occupancy of serotonin transporters by paroxetine and citalopram
    during treatment of depression. Am J Psychiatry 158:1843-1849.
    https://doi.org/10.1176/appi.ajp.158.11.1843
Prisco S, Esposito E (1995). Differential effects of acute and chronic fluoxetine
    administration on the spontaneous activity of dopaminergic neurones in the ventral
    tegmental area. Br J Pharmacol 116:1923-1931.
Zhou FM, Liang Y, Salas R, Zhang L, De Biasi M, Dani JA (2005). Corelease of dopamine
    and serotonin from striatal dopamine terminals. Neuron 46:65-74.
    https://doi.org/10.1016/j.neuron.2005.02.010
Zigmond MJ, Abercrombie ED, Berger TW, Grace AA, Stricker EM (1990). Compensations after
    lesions of central dopaminergic neurons: some clinical and basic implications.
    Trends Neurosci 13:290-296.
"""

from collections.abc import Callable
from dataclasses import dataclass

from brian2 import nmolar

from dopasim.params import Param, ParamError, did_you_mean, fraction

__all__ = ["SCENARIOS", "Scenario", "parse_scenarios", "apply_scenarios", "describe"]


@dataclass(frozen=True)
class Scenario:
    """One named scenario: its keys (declared `Param` fields) and what it does.

    ``apply(params, values)`` returns the `RewardCircuitParams` with this scenario's
    overrides, ``values`` being its parsed keys.
    """

    name: str
    summary: str
    keys: dict
    apply: Callable
    hypothesis: bool = False


def _keys(*params):
    return {p.name: p for p in params}


def _intact(params, v):
    return params


def _parkinson(params, v):
    return params.with_(
        da_loss=v["loss"], da_compensation=v["compensation"], da_comp_ceiling=v["ceiling"]
    )


def _ssri(params, v):
    return params.with_(
        pools=params.pools.with_(sert_occupancy=v["occupancy"]),
        ht2c=v["ht2c"],
        ht2c_chronic=v["chronic"],
    )


def _hunger(params, v):
    return params.with_(hunger=v["level"])


def _medicated(params, v):
    return params.with_(pools=params.pools.with_(drug_tonic=v["tonic"], dip_block=v["dip_block"]))


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("intact", "the base circuit", {}, _intact),
        Scenario(
            "parkinson",
            "loss of a fraction of VTA DA neurons, with compensation by the survivors",
            _keys(
                fraction(
                    "loss",
                    "fraction of DA neurons removed",
                    0.0,
                    cite="symptoms at 70-80 % loss: Bernheimer et al. 1973, J Neurol Sci 20:415",
                ),
                Param(
                    "compensation",
                    True,
                    "bool",
                    "survivors raise their release per spike",
                    cite="Zigmond et al. 1990, Trends Neurosci 13:290",
                ),
                Param(
                    "ceiling",
                    2.5,
                    "float",
                    "largest release factor of the survivors",
                    low=1.0,
                    high=100.0,
                    cite="hypothesis: full compensation up to 60 % loss",
                ),
            ),
            _parkinson,
        ),
        Scenario(
            "ssri",
            "SERT blocked: DA terminals co-release 5-HT; 5-HT2C receptors excite VTA GABA neurons",
            _keys(
                fraction(
                    "occupancy",
                    "fraction of SERT blocked",
                    0.0,
                    cite="Meyer et al. 2001, Am J Psychiatry 158:1843 (about 0.8 at therapeutic doses)",
                ),
                Param(
                    "ht2c",
                    True,
                    "bool",
                    "the 5-HT2C route (off: the antagonist control)",
                    cite="Dremencov, El Mansari & Blier 2009, J Psychiatry Neurosci 34:223",
                ),
                Param(
                    "chronic",
                    "sustained",
                    "choice",
                    "sustained (Dremencov 2009) or tolerant (Prisco 1995)",
                    choices=("sustained", "tolerant"),
                    cite="Prisco & Esposito 1995, Br J Pharmacol 116:1923",
                ),
            ),
            _ssri,
        ),
        Scenario(
            "hunger",
            "need state: DA's response to aversive outcomes flips sign when fasted [hypothesis]",
            _keys(fraction("level", "0 sated ... 1 fasted", 0.0, cite="hypothesis")),
            _hunger,
            hypothesis=True,
        ),
        Scenario(
            "medicated",
            "dopaminergic medication: raised tonic DA, floored dips (Frank 2004)",
            _keys(
                Param(
                    "tonic",
                    10 * nmolar,
                    "quantity",
                    "extra tonic DA at the striatal synapses",
                    unit=nmolar,
                    low=0,
                    high=1000,
                    cite="hypothesis (Frank, Seeberger & O'Reilly 2004, Science 306:1940)",
                ),
                fraction(
                    "dip_block",
                    "fraction of each DA dip removed",
                    0.8,
                    cite="hypothesis (Frank 2005, J Cogn Neurosci 17:51)",
                ),
            ),
            _medicated,
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
    keys = sc.keys
    values = {k: spec.default for k, spec in keys.items()}
    seen = set()
    if rest.strip():
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ParamError(f"scenario {name}: {item!r} is not KEY=VALUE")
            if key not in keys:
                allowed = ", ".join(keys) or "none"
                raise ParamError(
                    f"scenario {name}: unknown key {key!r}; allowed: {allowed}"
                    + did_you_mean(key, keys)
                )
            if key in seen:
                raise ParamError(f"scenario {name}: key '{key}' is given twice")
            seen.add(key)
            spec, where, raw = keys[key], f"scenario {name}:{key}", raw.strip()
            if spec.kind in ("bool", "choice"):
                raw = raw.lower()  # words: ON, Tolerant
            if spec.kind == "bool" and raw not in ("on", "off"):
                raise ParamError(f"{where}: '{raw}' is not allowed; allowed: on or off")
            values[key] = spec.parse(raw, where)
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
    for name, values in parsed:
        params = SCENARIOS[name].apply(params, values)
    return params
