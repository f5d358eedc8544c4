"""Sweep files: a grid of runs, read, checked in full and planned; nothing is run here.

A sweep file (``dopasim sweep SWEEP.toml``) names protocols, scenario SPECs and protocol
parameters with ``{placeholders}``, the grid that fills them, and the seeds::

    name = "pd-loss"                          # optional, default: the file's stem
    protocols = ["conditioning", "probability"]  # or: protocol = "conditioning"
    scenarios = ["parkinson:loss={loss}"]     # SPECs with {placeholders} filled from [grid]
    # reference = "intact"                    # optional: once per seed per protocol (then
                                              # no placeholders in the parameters)
    seeds = "1-50"                            # "1-50", "1-20,41-60", N (1..N) or [1, 2, 7]
    device = "cpp_standalone"                 # as --device
    out = "runs/sweeps/pd"                    # optional

    [params]                                  # protocol parameters (as --param), shared
    n_trials = 100
    trial_len = "{len}"                       # placeholders are allowed here too

    # [params.conditioning]                   # optional: one protocol's own parameters,
    # probe_window = 25                       # over [params] for that protocol

    [grid]
    loss = [0.0, 0.25, 0.5]                   # a list of values
    len = {start = 3, stop = 5, num = 3, unit = "s"}   # numpy.linspace: "3 s", "4 s", "5 s"
    zip = [["loss", "len"]]                   # optional: these keys are paired, not crossed

    [cluster]                                 # passed through untouched (the schedulers')
    cores = 1

Keys
----
name (string)
    The sweep's name: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or
    digit. Default: the file's stem (other characters replaced by ``_``).
protocols (array of strings), or protocol (string)
    Protocol names (``dopasim list``); one of the two keys is required.
scenarios (string or array of strings, default ``["intact"]``)
    Scenario SPECs (`dopasim.circuits.scenarios`), compose with ``+``. Each is filled at
    every grid point and must then parse; the plan holds its canonical SPEC.
reference (string)
    A SPEC without placeholders, run once per seed per protocol with the fixed
    parameters (so ``[params]`` and ``[params.<protocol>]`` may then hold no
    placeholders).
seeds (integer, string or array of integers, default 3)
    An integer N means seeds 1..N; a string lists seeds and ranges, ``"1-50"`` or
    ``"1-20,41-60,75"``; an array lists seeds. Seeds are 1 to 2**32 - 1, each given once.
device (string, default ``"cpp_standalone"``)
    As ``--device``.
out (string)
    The sweep's folder.
[params] (table)
    Protocol parameters shared by every protocol of the sweep, read as in a config file
    (`dopasim.config`): a string as ``--param`` would read it, a number or boolean as its
    text. Every parameter is validated for every protocol at every grid point by the
    command line's code; a parameter that some protocol does not take is an error (it
    belongs in the tables of the protocols that take it).
[params.<protocol>] (table)
    The parameters of one protocol of the sweep (``<protocol>`` one of ``protocols``;
    ``[params.conditioning]``, ``[params."probabilistic-selection"]``), read and checked
    as ``[params]``, placeholders included, for that protocol only; over ``[params]``
    for it (its value wins)::

        protocols = ["conditioning", "aversive"]
        [params]
        n_trials = 2
        [params.conditioning]                 # conditioning only: aversive has neither
        probe_window = 1
        n_omissions = 0

[grid] (table)
    Each key is a placeholder name (letters, digits, ``_``, ``-``; ``zip`` is reserved)
    and its values: a non-empty array of strings, numbers or booleans, each given once,
    or a table ``{start, stop, num, unit}``: ``numpy.linspace(start, stop, num)``
    (``num >= 1``), each value rounded to 12 significant digits (``0.3``, not
    ``0.30000000000000004``), ``unit`` (optional) appended as text (``"2 s"``). Keys are
    crossed (the cartesian product, in file order, the last key varying fastest) except
    those listed together in a ``zip`` group (same number of values), which are paired;
    a group takes the place of its first key. Every grid key must be used by a
    placeholder. No ``[grid]``: one grid point, ``{}``.
[cluster] (table)
    Not read here: passed through as `SweepPlan.cluster`.

Placeholders and numbers
------------------------
``{key}`` in a scenario, ``[params]`` or ``[params.<protocol>]`` string is replaced by
the grid value as text: a string as it is, a boolean as ``true``/``false``, an integer
as its digits, and a float as ``format(v, "g")`` when that reads back as the same float
(``0.25``, ``1`` for ``1.0``, ``1e-07``), else as ``repr(v)``
(``0.30000000000000004``). ``plan.csv`` shows the same text.

The plan
--------
For each protocol: the reference's runs (one per seed), then for each grid point, each
scenario, each seed, a `SweepRun`. Its ``relpath`` is
``runs/<protocol>/<scenario>[/<params>]/seed<k>``: the canonical SPEC as a folder name
(as `dopasim.comparison` names its runs' folders), and, when the protocol's parameters
(``[params]`` and its own table) hold placeholders, a folder naming those parameters'
filled values; a name over 100 characters is cut and ends with a hash of the whole. A
run's ``params`` are its protocol's: ``[params]`` with its own table over them, filled.
Two grid points that give the same run (the same protocol, canonical SPEC and resolved
parameters) are an error; so a grid key used only in one protocol's table must be
zipped with a key the other protocols use (else it repeats their runs).

Validation
----------
`load_sweep` collects every error at once, each a `dopasim.config.ConfigError` with the
dotted key (``grid.loss``, ``scenarios[0]``, ``params.n_trials``,
``params.conditioning.probe_window``), its line in the file and a one-line message
naming the value and what is allowed. A value that fails at several grid points (or for
some protocols only) is one error naming the first grid point and how many more.
Nothing is created, compiled or simulated.
"""

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from dopasim.config import (
    ConfigError,
    _item_line,
    _locate,
    _strip,
    _text,
    _toml_type,
    in_file_order,
    key_lines,
    read_toml,
)
from dopasim.device import DEVICES
from dopasim.options import OPTIONS, option
from dopasim.params import ParamError, did_you_mean, resolve_params, to_jsonable

__all__ = [
    "KEYS",
    "MAX_RUNS",
    "SweepRun",
    "SweepPlan",
    "load_sweep",
    "plan_rows",
    "parse_seed_ranges",
]

#: Top-level keys of a sweep file and what they hold.
KEYS = {
    "name": "the sweep's name (default: the file's stem)",
    "protocols": "protocol names (`dopasim list`)",
    "protocol": "one protocol name (instead of protocols)",
    "scenarios": "scenario SPECs with {placeholders}",
    "reference": "a SPEC run once per seed per protocol",
    "seeds": "seeds: N (1..N), '1-50,61-70' or a list",
    "device": OPTIONS["device"].help,
    "out": "the sweep's folder",
    "params": "protocol parameters (`--param KEY=VALUE`), {placeholders} allowed; "
    "[params.<protocol>]: one protocol's own",
    "grid": "the values of the placeholders",
    "cluster": "the schedulers' settings (passed through)",
}
#: The most runs (and seeds, and grid points) a sweep may plan.
MAX_RUNS = 100_000

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_LINSPACE = ("start", "stop", "num", "unit")
_GRID_ALLOWED = "a list of values, or a table {start, stop, num, unit} (numpy.linspace)"
_MAX_COMPONENT = 100


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep."""

    protocol: str  # registry name
    scenario: str  # canonical SPEC
    seed: int
    params: dict  # as --param texts: [params] and [params.<protocol>] over it, grid-filled
    coords: dict  # {grid key: value} of this run's grid point ({} for the reference)
    point: int  # index of the grid point (reference: -1)
    relpath: str  # runs/<protocol>/<scenario>[/<params>]/seed<k>


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep file and every run it asks for."""

    name: str
    protocols: tuple[str, ...]
    grid_keys: tuple[str, ...]
    points: tuple[dict, ...]  # the grid points, in order
    seeds: tuple[int, ...]
    reference: str | None  # canonical SPEC
    device: str
    out: str | None
    # per protocol: the reference's runs, then grid points x scenarios x seeds
    runs: tuple[SweepRun, ...]
    cluster: dict  # the [cluster] table, untouched
    source: dict  # the parsed TOML (with the overrides in place)


# ---------------------------------------------------------------- seeds


def parse_seed_ranges(value, where="seeds"):
    """Seeds from an integer N (1..N), a string ``"1-50,61-70,75"`` or a list of integers.

    Returns a tuple, in the order given. Raises `ParamError` (one line naming ``where``,
    the value and what is allowed) for a reversed range, a seed 0, text that is not a
    seed or range, a seed given twice, a wrong type or more than `MAX_RUNS` seeds.
    """
    high = OPTIONS["seed"].high
    allowed = (
        f"seeds 1 to {high}, each once: an integer N (seeds 1..N), ranges like '1-50' or "
        "'1-20,41-60', or an array of integers"
    )

    def bad(what):
        raise ParamError(f"{where}: {what}; allowed: {allowed}")

    def check_count(n):
        if n > MAX_RUNS:
            bad(f"{value!r} gives {n} seeds, more than {MAX_RUNS}")

    if isinstance(value, bool) or not isinstance(value, int | str | list):
        bad(f"{value!r} is a {_toml_type(value)}")
    if isinstance(value, int):
        if value < 1:
            bad(f"{value} seeds")
        check_count(value)
        return tuple(range(1, value + 1))
    if isinstance(value, list):
        if not value:
            bad("empty array")
        for x in value:
            if isinstance(x, bool) or not isinstance(x, int):
                bad(f"{x!r} in {value!r} is a {_toml_type(x)}")
            if not 1 <= x <= high:
                bad(f"seed {x} in {value!r} is out of range")
        check_count(len(value))
        seeds = list(value)
    else:
        if not value.strip():
            bad("empty string")
        ranges = []
        for part in value.split(","):
            shown = (
                f"{value!r}" if part.strip() == value.strip() else f"{part.strip()!r} in {value!r}"
            )
            m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not m:
                bad(f"{shown} is not a seed N or a range A-B")
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) is not None else a
            if a > b:
                bad(f"{shown} is a reversed range ({a} > {b})")
            if a < 1 or b > high:
                bad(f"{shown} is out of range")
            ranges.append((a, b))
        check_count(sum(b - a + 1 for a, b in ranges))
        seeds = [s for a, b in ranges for s in range(a, b + 1)]
    seen, twice = set(), set()
    for s in seeds:
        (twice if s in seen else seen).add(s)
    if twice:
        spans = _spans(sorted(twice))
        one = len(twice) == 1
        bad(
            f"{'seed' if one else 'seeds'} {spans} {'is' if one else 'are'} given twice in {value!r}"
        )
    return tuple(seeds)


def _spans(numbers):
    """Sorted integers as ``'3-5, 9'``."""
    out = []
    for _, group in itertools.groupby(enumerate(numbers), lambda t: t[1] - t[0]):
        g = [n for _, n in group]
        out.append(f"{g[0]}-{g[-1]}" if len(g) > 1 else f"{g[0]}")
    return ", ".join(out)


# ---------------------------------------------------------------- text


def _value_text(value):
    """A grid value as the text it fills in (see the module's docstring)."""
    if isinstance(value, float) and math.isfinite(value):
        short = format(value, "g")
        return short if float(short) == value else repr(value)
    if isinstance(value, bool | float):
        return _text(value)
    return str(value)


def _fill(text, texts):
    return _PLACEHOLDER_RE.sub(lambda m: texts[m.group(1)], text)


def _component(text):
    """``text`` as one folder name (`dopasim.comparison`'s), cut with a hash when long."""
    from dopasim.comparison import _slug

    slug = _slug(text)
    if len(slug) > _MAX_COMPONENT:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        slug = f"{slug[: _MAX_COMPONENT - 9]}-{digest}"
    return slug


def _coords_text(point, keys=None):
    return ", ".join(f"{k}={_value_text(v)}" for k, v in point.items() if keys is None or k in keys)


# ---------------------------------------------------------------- errors at grid points


class _Grouped:
    """Errors found per protocol and grid point: one line per field.

    The first message of a field is kept; the line says which protocols (when not all)
    and which grid point (when not all) and how many more.
    """

    def __init__(self):
        self.fields = {}

    def add(self, key, line, message, protocol=None, points=(), keys=None):
        f = self.fields.setdefault(
            key,
            {"line": line, "message": message, "protocols": [], "points": [], "keys": keys},
        )
        if protocol is not None and protocol not in f["protocols"]:
            f["protocols"].append(protocol)
        f["points"].extend(p for p in points if p not in f["points"])

    def __contains__(self, key):
        return key in self.fields

    def errors(self, protocols, points):
        out = []
        for key, f in self.fields.items():
            message = f["message"]
            bad = f["points"]
            vary = f["keys"] and len(bad) > 1  # a value that fails at several points
            if bad and len(points) > 1 and (len(bad) < len(points) or vary):
                first = _coords_text(points[bad[0]], f["keys"]) or f"grid point {bad[0]}"
                more = f"; and {len(bad) - 1} more grid points" if len(bad) > 1 else ""
                message = f"{message} (at {first}{more})"
            named = f["protocols"]
            if named and len(protocols) > 1 and len(named) < len(protocols):
                if not all(f"'{p}'" in message for p in named):
                    which = ", ".join(f"'{p}'" for p in named)
                    message = f"protocol{'s' if len(named) > 1 else ''} {which}: {message}"
            out.append(ConfigError(key, f["line"], message))
        return out


# ---------------------------------------------------------------- the file


def load_sweep(path, overrides=None):
    """Read and check the sweep file ``path``; plan its runs. Nothing is created or run.

    ``overrides`` (from the command line) replace top-level keys of the file (a ``None``
    value is ignored); their errors have no line and say so. Returns ``(plan, errors)``:
    a `SweepPlan` and ``[]``, or ``None`` and every error found (`ConfigError`, in file
    order).
    """
    data, text, errors = read_toml(path)
    if errors:
        return None, errors
    from_cli = set()
    for key, value in (overrides or {}).items():
        if key not in KEYS:
            raise ValueError(f"load_sweep: unknown override {key!r}; allowed: {', '.join(KEYS)}")
        if value is not None:
            data[key] = value
            from_cli.add(key)
    plan, errors = _check(Path(path), data, text)
    for i, e in enumerate(errors):
        if re.split(r"[.\[]", e.key)[0] in from_cli:
            errors[i] = ConfigError(e.key, None, f"{e.message} (given on the command line)")
    errors = in_file_order(errors)
    return (None, errors) if errors else (plan, [])


def _check(path, data, text):
    from dopasim import runner
    from dopasim.circuits.scenarios import describe, parse_scenarios

    lines = key_lines(text)
    errors = []
    grouped = _Grouped()

    def line_of(key):
        return lines.get(tuple(key.split(".")))

    def err(key, message, line=None):
        errors.append(ConfigError(key, line if line is not None else line_of(key), message))

    def typed(key, value, types, allowed):
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            err(key, f"{value!r} is a {_toml_type(value)}; allowed: {allowed}")
        return ok

    for key in data:
        if key not in KEYS:
            err(key, f"unknown key '{key}'{did_you_mean(key, KEYS)}; allowed: {', '.join(KEYS)}")

    # name
    name = data.get("name")
    if name is None:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", path.stem).lstrip("._-") or "sweep"
    elif typed("name", name, (str,), "a name of letters, digits, '.', '_' and '-'"):
        if not _NAME_RE.fullmatch(name):
            err(
                "name",
                f"{name!r} is not allowed; allowed: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit",
            )

    # protocols
    modules = []
    names = ", ".join(runner.PROTOCOLS)
    if "protocol" in data and "protocols" in data:
        err("protocol", "given together with 'protocols'; allowed: one of them, not both")
        raw_protocols = data["protocols"]
        pkey = "protocols"
    elif "protocol" in data:
        raw_protocols, pkey = data["protocol"], "protocol"
    elif "protocols" in data:
        raw_protocols, pkey = data["protocols"], "protocols"
    else:
        err("protocols", f"missing; allowed: protocols = [names] or protocol = name, of: {names}")
        raw_protocols, pkey = [], "protocols"
    listed = isinstance(raw_protocols, list)
    items = raw_protocols if listed else []
    if pkey not in data:
        pass
    elif listed and not items:
        err(pkey, f"empty array; allowed: one or more protocol names, of: {names}")
    elif not listed and typed(pkey, raw_protocols, (str,), f"a protocol name, of: {names}"):
        items = [raw_protocols]
    start = lines.get((pkey,))
    for i, raw in enumerate(items):
        key = f"{pkey}[{i}]" if listed else pkey
        line = _item_line(text, start, raw) if isinstance(raw, str) else start
        if not isinstance(raw, str):
            err(key, f"{raw!r} is a {_toml_type(raw)}; allowed: a protocol name", line)
            continue
        try:
            module = runner.get_protocol(raw)
        except ParamError as e:
            err(key, _strip(str(e), "protocol"), line)
            continue
        if any(m.NAME == module.NAME for m in modules):
            err(key, f"'{raw}' is given twice; allowed: distinct protocols", line)
            continue
        modules.append(module)

    # seeds, device, out, cluster
    seeds = ()
    try:
        seeds = parse_seed_ranges(data.get("seeds", OPTIONS["seeds"].default), "seeds")
    except ParamError as e:
        err("seeds", _strip(str(e), "seeds"))
    device = data.get("device", OPTIONS["device"].default)
    if typed("device", device, (str,), OPTIONS["device"].allowed()):
        try:
            device = option("device", device)
        except ParamError as e:
            err("device", _strip(str(e), "device"))
    # the points are checked against the sweep's device (a value only one device runs)
    check_device = device if device in DEVICES else "numpy"
    out = data.get("out")
    if out is not None and typed("out", out, (str,), "a folder path (string)"):
        if not out.strip():
            err("out", "empty string; allowed: a folder path")
    cluster = data.get("cluster", {})
    if not isinstance(cluster, dict):
        err("cluster", f"{cluster!r} is a {_toml_type(cluster)}; allowed: a table [cluster]")

    # the grid: keys, values, zip groups
    grid = data.get("grid", {})
    grid_ok = isinstance(grid, dict)
    if not grid_ok:
        err("grid", f"{grid!r} is a {_toml_type(grid)}; allowed: a table [grid]")
        grid = {}
    values = {}
    for key, raw in grid.items():
        if key == "zip":
            continue
        gkey = f"grid.{key}"
        if not _KEY_RE.fullmatch(key):
            err(gkey, f"'{key}' is not a placeholder name; allowed: letters, digits, '_', '-'")
            grid_ok = False
            continue
        got = _grid_values(raw)
        if isinstance(got, str):
            err(gkey, got)
            grid_ok = False
        else:
            values[key] = got
    grid_keys = tuple(k for k in grid if k != "zip")
    zip_line = lines.get(("grid", "zip"))
    groups = _zip_groups(grid.get("zip", []), grid_keys, values, lambda k, m: err(k, m, zip_line))
    grid_ok = grid_ok and groups is not None

    # placeholders: in the scenarios and in [params]
    unknown = False

    def placeholders(key, raw, line):
        nonlocal unknown
        used = [m.group(1) for m in _PLACEHOLDER_RE.finditer(raw)]
        odd = [u for u in used if not _KEY_RE.fullmatch(u)]
        if odd:
            err(
                key,
                f"'{{{odd[0]}}}' is not a placeholder; allowed: {{KEY}}, KEY a [grid] key",
                line,
            )
            unknown = True
            return None
        missing = [u for u in dict.fromkeys(used) if u not in grid_keys]
        if missing:
            shown = ", ".join(f"{{{u}}}" for u in missing)
            hint = did_you_mean(missing[0], grid_keys)
            known = ", ".join(f"{{{k}}}" for k in grid_keys) or "none ([grid] has no keys)"
            have = "has" if len(missing) == 1 else "have"
            err(key, f"{raw!r}: {shown} {have} no [grid] key{hint}; allowed: {known}", line)
            unknown = True
            return None
        return tuple(dict.fromkeys(used))

    scen_raw = data.get("scenarios", ["intact"])
    scen_listed = isinstance(scen_raw, list)
    if not scen_listed:
        scen_raw = [scen_raw]
    elif not scen_raw:
        err("scenarios", "empty array; allowed: one or more SPEC strings, e.g. 'intact'")
    start = lines.get(("scenarios",))
    scenarios = {}  # index -> (key, raw, line, placeholder names)
    for i, raw in enumerate(scen_raw):
        key = f"scenarios[{i}]" if scen_listed else "scenarios"
        if not isinstance(raw, str):
            err(key, f"{raw!r} is a {_toml_type(raw)}; allowed: a SPEC string", start)
            continue
        line = _item_line(text, start, raw)
        if any(r == raw for _, r, _, _ in scenarios.values()):
            err(key, f"{raw!r} is given twice; allowed: distinct SPECs", line)
            continue
        used = placeholders(key, raw, line)
        if used is not None:
            scenarios[i] = (key, raw, line, used)

    table = data.get("params", {})
    if not isinstance(table, dict):
        err("params", f"{table!r} is a {_toml_type(table)}; allowed: a table [params]")
        table = {}
    sweep_names = [m.NAME for m in modules]
    params = {}  # shared: name -> (text, placeholder names)
    own = {}  # [params.<protocol>]: protocol -> {name -> (text, placeholder names)}
    params_ok = True
    loose = set()  # placeholders of a table of no protocol of the sweep (reported)

    def table_line(protocol):
        """The line of [params.<protocol>] (its first key's when written dotted)."""
        at = [n for k, n in lines.items() if k[:2] == ("params", protocol)]
        return min(at, default=None) or lines.get(("params",))

    def param_value(key, value, line):
        """``(text, placeholder names)`` of one parameter, or None after its error."""
        if isinstance(value, dict | list) or not isinstance(value, str | int | float | bool):
            err(
                key,
                f"{value!r} is a {_toml_type(value)}; allowed: a string, number or boolean",
                line,
            )
            return None
        raw = value if isinstance(value, str) else _text(value)
        used = placeholders(key, raw, line) if isinstance(value, str) else ()
        return None if used is None else (raw, used)

    for pname, value in table.items():
        key = f"params.{pname}"
        if isinstance(value, dict):  # [params.<protocol>]
            if pname not in sweep_names:
                params_ok = False
                loose.update(
                    m.group(1)
                    for v in value.values()
                    if isinstance(v, str)
                    for m in _PLACEHOLDER_RE.finditer(v)
                )
                if pname not in items:  # else the protocol's own error says it
                    err(
                        key,
                        f"'{pname}' is not in {pkey}{did_you_mean(pname, sweep_names)}; "
                        "allowed: [params.<protocol>] for a protocol of the sweep: "
                        f"{', '.join(sweep_names) or 'none'}",
                        table_line(pname),
                    )
                continue
            own[pname] = {}
            for name, v in value.items():
                got = param_value(f"{key}.{name}", v, line_of(f"{key}.{name}") or table_line(pname))
                if got is None:
                    params_ok = False
                else:
                    own[pname][name] = got
            continue
        if pname in sweep_names:
            err(
                key,
                f"{value!r} is a {_toml_type(value)}; allowed: a table [params.{pname}] of "
                f"{pname}'s own parameters",
            )
            params_ok = False
            continue
        got = param_value(key, value, None)
        if got is None:
            params_ok = False
        else:
            params[pname] = got
    # each protocol's parameters: [params], then its own table over them
    merged = {n: {**params, **own.get(n, {})} for n in sweep_names}

    def key_of(protocol, name):
        """The dotted key of the parameter ``name`` as ``protocol`` gets it."""
        return f"params.{protocol}.{name}" if name in own.get(protocol, {}) else f"params.{name}"

    def param_line(key):
        """The line of a parameter's key; a default's: its table's (or [params]'s)."""
        parts = key.split(".")
        if len(parts) == 3:
            return line_of(key) or table_line(parts[1])
        return line_of(key) or lines.get(("params",))

    if not unknown and grid_ok:
        everything = {u for *_, used in scenarios.values() for u in used}
        everything |= {u for _, used in params.values() for u in used}
        everything |= {u for t in own.values() for _, used in t.values() for u in used}
        everything |= loose
        for key in grid_keys:
            if key in values and key not in everything:
                err(
                    f"grid.{key}",
                    f"'{key}' is not used by any placeholder; allowed: keys used as {{{key}}} "
                    "in scenarios, [params] or [params.<protocol>]",
                )
                grid_ok = False

    # the reference
    reference = data.get("reference")
    ref_spec = None
    if reference is not None and typed("reference", reference, (str,), "a SPEC string"):
        used = [m.group(0) for m in _PLACEHOLDER_RE.finditer(reference)]
        filled = list(
            dict.fromkeys(
                key_of(protocol, n)
                for protocol, ps in merged.items()
                for n, (_, u) in ps.items()
                if u
            )
        )
        if used:
            err(
                "reference",
                f"{reference!r} has placeholders ({', '.join(used)}); allowed: a SPEC "
                "without placeholders (it runs once per seed, outside the grid)",
            )
        elif filled:
            err(
                "reference",
                f"{reference!r} runs once per seed with the fixed [params], but "
                f"{', '.join(filled)} has placeholders; allowed: no reference, or [params] "
                "and [params.<protocol>] without placeholders",
            )
        else:
            try:
                ref_spec = describe(parse_scenarios(reference))
            except ParamError as e:
                err("reference", f"{reference!r}: {e}")

    # the grid points
    points = ()
    if grid_ok:
        axes = _axes(grid_keys, values, groups)
        count = math.prod(len(a) for a in axes)
        per = count * len(scenarios) + (ref_spec is not None)
        total = max(len(modules), 1) * per * max(len(seeds), 1)
        if total > MAX_RUNS:
            err(
                "grid" if grid_keys else "seeds",
                f"{total} runs ({count} grid points x {len(scenarios)} scenarios"
                f"{' + the reference' if ref_spec else ''}, x {len(seeds)} seeds"
                f"{f' x {len(modules)} protocols' if len(modules) > 1 else ''}); "
                f"allowed: at most {MAX_RUNS}",
            )
        else:
            points = tuple(_point(grid_keys, combo) for combo in itertools.product(*axes))
    texts = [{k: _value_text(v) for k, v in p.items()} for p in points]
    npoints = range(len(points))

    # each scenario filled at each grid point: a valid SPEC
    specs = {}  # (scenario index, point) -> canonical SPEC
    for i, (key, raw, line, used) in scenarios.items():
        for filled, at in _by_text(raw, used, texts).items():
            try:
                spec = describe(parse_scenarios(filled))
            except ParamError as e:
                grouped.add(key, line, f"{filled!r}: {e}", points=at, keys=used)
                continue
            for j in at:
                specs[i, j] = spec

    # each protocol's parameters filled at each grid point, each validated for it
    filled_params = {
        name: [{n: _fill(raw, texts[j]) for n, (raw, _) in ps.items()} for j in npoints]
        for name, ps in merged.items()
    }
    takes = {m.NAME: {p.name for p in m.PARAMS} for m in modules}
    bad_protocols = set()
    for module in modules:
        for pname, (raw, used) in merged[module.NAME].items():
            key = key_of(module.NAME, pname)
            shared = key == f"params.{pname}"
            takers = [n for n in sweep_names if pname in takes[n]]
            if shared and pname not in takes[module.NAME] and takers:
                tables = " and ".join(f"[params.{n}]" for n in takers)
                message = (
                    f"unknown parameter '{pname}' (only {', '.join(takers)} take"
                    f"{'s' if len(takers) == 1 else ''} it); allowed: move it to {tables}, "
                    "the parameters of one protocol only"
                )
                grouped.add(key, line_of(key), message, module.NAME)
                bad_protocols.add(module.NAME)
                continue
            for value, at in _by_text(raw, used, texts).items():
                try:
                    resolve_params(module.PARAMS, {pname: value})
                except ParamError as e:
                    message = _strip(str(e), pname)
                    who = module.NAME if shared else None  # its key names its protocol
                    grouped.add(key, param_line(key), message, who, at, used)
                    bad_protocols.add(module.NAME)

    def locate(message, run_params, module):
        """`_locate`'s key, as the protocol's (``params.<protocol>.<name>`` for its own)."""
        where, message = _locate(message, run_params, {}, module)
        if where.startswith("params."):
            where = key_of(module.NAME, where.partition(".")[2])
        mine = where.startswith(f"params.{module.NAME}.")
        return where, message, None if mine else module.NAME

    # each run as the runner would prepare it: the scenario for this protocol, then the
    # whole (cross-parameter checks, the scenario against the parameters)
    resolved = {}  # (protocol, scenario index, point) -> resolved parameters
    supported = {}
    if params_ok and not errors:
        for module in modules:
            if module.NAME in bad_protocols:
                continue
            for j in npoints:
                for i, (key, raw, line, _) in scenarios.items():
                    spec = specs.get((i, j))
                    if spec is None or key in grouped:
                        continue
                    if (module.NAME, spec) not in supported:
                        try:
                            runner.prepare(module.NAME, None, 1, check_device, None, True, spec)
                            supported[module.NAME, spec] = None
                        except ParamError as e:
                            supported[module.NAME, spec] = _strip(str(e), "scenario")
                    if supported[module.NAME, spec] is not None:
                        message = f"{_fill(raw, texts[j])!r}: {supported[module.NAME, spec]}"
                        grouped.add(key, line, message, module.NAME, [j])
                        continue
                    run_params = filled_params[module.NAME][j]
                    try:
                        _, p, *_ = runner.prepare(
                            module.NAME, run_params, 1, check_device, None, True, spec
                        )
                    except ParamError as e:
                        where, message, who = locate(str(e), run_params, module)
                        if where == "scenarios":
                            where = key
                        if where == key:
                            line_ = line
                        elif where.startswith("params."):
                            line_ = param_line(where)  # a default's conflict: its table
                        else:
                            line_ = line_of(where)
                        grouped.add(where, line_, message, who, [j])
                        continue
                    resolved[module.NAME, i, j] = p
            # the reference, with the fixed [params]
            if ref_spec is not None and "reference" not in grouped:
                fixed = {n: raw for n, (raw, _) in merged[module.NAME].items()}
                try:
                    _, p, *_ = runner.prepare(
                        module.NAME, fixed, 1, check_device, None, True, ref_spec
                    )
                    resolved[module.NAME, None, None] = p
                except ParamError as e:
                    where, message, who = locate(str(e), fixed, module)
                    if where == "scenarios":
                        where, message = (
                            "reference",
                            f"{reference!r}: {_strip(message, 'scenario')}",
                        )
                    line_ = param_line(where) if where.startswith("params.") else line_of(where)
                    grouped.add(where, line_ or lines.get(("params",)), message, who)

    # the same run twice
    for module in modules:
        seen = {}
        order = [(None, None)] if ref_spec is not None else []
        order += [(i, j) for j in npoints for i in scenarios]
        for i, j in order:
            p = resolved.get((module.NAME, i, j))
            if p is None:
                continue
            ident = json.dumps(to_jsonable(p), sort_keys=True, default=str)
            if ident not in seen:
                seen[ident] = (i, j)
                continue
            i0, j0 = seen[ident]
            spec = p.get("scenario", "intact")
            same = f"the same run ({spec!r}, the same parameters)"
            allowed = "allowed: values that make every run distinct"
            if i0 is None:
                key, line = "reference", line_of("reference")
                at = f" at grid point {j} ({_coords_text(points[j])})" if len(points) > 1 else ""
                message = (
                    f"{reference!r} and {scenarios[i][1]!r}{at} give {same}; allowed: a "
                    "reference that is not also a grid run, or no reference"
                )
            elif i0 != i:
                key, line = scenarios[i][0], scenarios[i][2]
                at = f" at grid point {j} ({_coords_text(points[j])})" if len(points) > 1 else ""
                message = f"{scenarios[i][1]!r} and {scenarios[i0][1]!r}{at} give {same}; {allowed}"
            else:
                mine = merged[module.NAME]
                varies = set(scenarios[i][3]) | {u for _, used in mine.values() for u in used}
                differ = [k for k in grid_keys if texts[j][k] != texts[j0][k]]
                k = next((k for k in differ if k in varies), None)
                # a key of other protocols' parameters only
                elsewhere = {
                    u: key_of(n, name)
                    for n, ps in merged.items()
                    for name, (_, used) in ps.items()
                    for u in used
                    if n != module.NAME
                }
                other = next((k for k in differ if k in elsewhere), None)
                if k is None and other is not None:
                    key, line = f"grid.{other}", line_of(f"grid.{other}")
                    table, _, pname = elsewhere[other].rpartition(".")
                    if table == "params":  # a shared parameter this protocol overrides
                        place = f"params.{pname}, which [params.{module.NAME}] sets"
                    else:
                        place = f"[{table}]"
                    partner = next((k for k in grid_keys if k in varies), None)
                    paired = f"zip = [['{partner}', '{other}']] in [grid], or " if partner else ""
                    message = (
                        f"{texts[j0][other]} and {texts[j][other]} (grid points {j0} and {j}) "
                        f"give {same}: {{{other}}} is only in {place}; allowed: {paired}"
                        "one sweep per protocol"
                    )
                elif k is not None:  # two values that give the same run
                    key, line = f"grid.{k}", line_of(f"grid.{k}")
                    message = (
                        f"{texts[j0][k]} and {texts[j][k]} (grid points {j0} and {j}) give "
                        f"{same}; {allowed}"
                    )
                else:  # a scenario that does not vary with the grid
                    key, line = scenarios[i][0], scenarios[i][2]
                    message = (
                        f"{scenarios[i][1]!r} gives {same} at grid points {j0} and {j}: no "
                        f"placeholder of it or of [params] varies with {', '.join(differ)}; "
                        "allowed: placeholders for the grid's keys, or reference = "
                        f"{scenarios[i][1]!r} (a run outside the grid)"
                    )
            grouped.add(key, line, message, module.NAME)

    errors += grouped.errors([m.NAME for m in modules], points)
    if errors:
        return None, errors

    # the plan
    runs = []
    for module in modules:
        varied = [n for n, (_, used) in merged[module.NAME].items() if used]
        todo = [(None, None)] if ref_spec is not None else []
        todo += [(i, j) for j in npoints for i in scenarios]
        for i, j in todo:
            if i is None:
                spec, coords, point = ref_spec, {}, -1
                run_params = {n: raw for n, (raw, _) in merged[module.NAME].items()}
            else:
                spec, coords, point = specs[i, j], points[j], j
                run_params = filled_params[module.NAME][j]
            folder = f"runs/{_component(module.NAME)}/{_component(spec)}"
            if varied and i is not None:
                folder += "/" + _component(
                    "_".join(_component(f"{n}={run_params[n]}") for n in varied)
                )
            for seed in seeds:
                runs.append(
                    SweepRun(
                        protocol=module.NAME,
                        scenario=spec,
                        seed=seed,
                        params=dict(run_params),
                        coords=dict(coords),
                        point=point,
                        relpath=f"{folder}/seed{seed}",
                    )
                )
    clash = _first_clash(runs)
    if clash:
        return None, [ConfigError("scenarios", lines.get(("scenarios",)), clash)]
    plan = SweepPlan(
        name=name,
        protocols=tuple(m.NAME for m in modules),
        grid_keys=grid_keys,
        points=points,
        seeds=seeds,
        reference=ref_spec,
        device=device,
        out=out,
        runs=tuple(runs),
        cluster=copy.deepcopy(cluster),
        source=copy.deepcopy(data),
    )
    return plan, []


def _by_text(raw, used, texts):
    """``{filled text: [grid points]}`` of the field ``raw``; a field without
    placeholders is its own text, even when the grid is bad (no points)."""
    if not used:
        return {raw: list(range(len(texts)))}
    by_text = {}
    for j, t in enumerate(texts):
        by_text.setdefault(_fill(raw, t), []).append(j)
    return by_text


def _grid_values(raw):
    """The values of one grid key, or the error message (a string)."""
    if isinstance(raw, list):
        if not raw:
            return f"empty array; allowed: {_GRID_ALLOWED}"
        seen = {}
        for v in raw:
            if isinstance(v, dict | list) or not isinstance(v, str | int | float | bool):
                return f"{v!r} is an {_toml_type(v)}; allowed: strings, numbers or booleans"
            t = _value_text(v)
            if t in seen:
                return f"{t!r} is given twice in {raw!r}; allowed: distinct values"
            seen[t] = v
        if len(raw) > MAX_RUNS:
            return f"{len(raw)} values; allowed: at most {MAX_RUNS}"
        return list(raw)
    if not isinstance(raw, dict):
        return f"{raw!r} is a {_toml_type(raw)}; allowed: {_GRID_ALLOWED}"
    unknown = [k for k in raw if k not in _LINSPACE]
    if unknown:
        return (
            f"unknown key '{unknown[0]}'{did_you_mean(unknown[0], _LINSPACE)} in {raw!r}; "
            f"allowed: {_GRID_ALLOWED}"
        )
    missing = [k for k in ("start", "stop", "num") if k not in raw]
    if missing:
        return f"{raw!r} has no {', '.join(missing)}; allowed: {_GRID_ALLOWED}"
    for k in ("start", "stop"):
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return f"{k} = {v!r} is not allowed; allowed: a finite number"
    num, unit = raw["num"], raw.get("unit")
    if isinstance(num, bool) or not isinstance(num, int):
        return f"num = {num!r} is a {_toml_type(num)}; allowed: an integer >= 1"
    if not 1 <= num <= MAX_RUNS:
        return f"num = {num} is not allowed; allowed: 1 to {MAX_RUNS}"
    if unit is not None and (not isinstance(unit, str) or not unit.strip()):
        return f"unit = {unit!r} is not allowed; allowed: a unit as text, e.g. 's'"
    import numpy as np

    numbers = [float(f"{x:.12g}") for x in np.linspace(raw["start"], raw["stop"], num)]
    if len(set(numbers)) < len(numbers):
        return f"{raw!r} gives the same value twice; allowed: distinct values"
    return [f"{_value_text(x)} {unit.strip()}" for x in numbers] if unit else numbers


def _zip_groups(raw, grid_keys, values, err):
    """The ``zip`` groups (lists of keys), or None after reporting an error (``err(key,
    message)``)."""
    allowed = "an array of arrays of [grid] keys, e.g. [['loss', 'dur']]"
    if not isinstance(raw, list) or not all(isinstance(g, list) for g in raw):
        err("grid.zip", f"{raw!r} is not allowed; allowed: {allowed}")
        return None
    groups, taken, ok = [], {}, True
    for n, group in enumerate(raw):
        key = f"grid.zip[{n}]"
        if not group:
            err(key, f"empty array; allowed: {allowed}")
            ok = False
            continue
        bad = [k for k in group if not isinstance(k, str) or k not in grid_keys]
        if bad:
            k = bad[0]
            hint = did_you_mean(k, grid_keys) if isinstance(k, str) else ""
            err(key, f"{k!r} is not a [grid] key{hint}; allowed: {', '.join(grid_keys)}")
            ok = False
            continue
        again = [k for k in group if k in taken or group.count(k) > 1]
        if again:
            k = again[0]
            where = f"grid.zip[{taken[k]}]" if k in taken else "this group"
            err(key, f"'{k}' is already in {where}; allowed: each key in one group, once")
            ok = False
            continue
        for k in group:
            taken[k] = n
        sized = [k for k in group if k in values]
        if len(sized) == len(group) > 1:
            lengths = [len(values[k]) for k in group]
            if len(set(lengths)) > 1:
                a = next(k for k in group if len(values[k]) != lengths[0])
                err(
                    key,
                    f"'{group[0]}' and '{a}' have {lengths[0]} and {len(values[a])} values; "
                    "allowed: keys with the same number of values",
                )
                ok = False
                continue
        groups.append(group)
    return groups if ok else None


def _axes(grid_keys, values, groups):
    """The grid's axes in file order: each a list of {key: value}; a zip group is one axis,
    in the place of its first key."""
    group_of = {k: g for g in groups for k in g}
    axes = []
    for key in grid_keys:
        group = group_of.get(key)
        if group is None:
            axes.append([{key: v} for v in values[key]])
        elif key == min(group, key=grid_keys.index):
            columns = zip(*(values[k] for k in group), strict=True)
            axes.append([dict(zip(group, row, strict=True)) for row in columns])
    return axes


def _point(grid_keys, parts):
    merged = {}
    for part in parts:
        merged.update(part)
    return {k: merged[k] for k in grid_keys}


def _first_clash(runs):
    """A message when two runs would share a folder (only when slugs collide), else None."""
    seen = {}
    for r in runs:
        other = seen.setdefault(r.relpath, r)
        if other is not r:
            return (
                f"'{other.scenario}' {other.params} and '{r.scenario}' {r.params} would share the "
                f"folder {r.relpath}; allowed: runs whose SPECs and parameters differ in more "
                "than punctuation"
            )
    return None


def plan_rows(plan):
    """``(header, rows)`` of ``plan.csv``: one row per run, the grid values as filled text."""
    header = ["protocol", "scenario", "seed", "point", *plan.grid_keys, "params", "relpath"]
    rows = [
        [
            r.protocol,
            r.scenario,
            r.seed,
            r.point,
            *(_value_text(r.coords[k]) if k in r.coords else "" for k in plan.grid_keys),
            json.dumps(r.params),
            r.relpath,
        ]
        for r in plan.runs
    ]
    return header, rows
