"""TOML config files: one run or one comparison, checked in full before anything runs.

A config file holds what the command line would otherwise say::

    protocol = "conditioning"        # required; see 'dopasim list'
    kind = "compare"                 # "run" or "compare" (optional, see below)
    scenarios = ["intact", "parkinson:loss=0.75"]   # SPECs, as for --scenario
    seeds = 3                        # compare: paired seeds 1..N      (--seeds)
    jobs = 2                         # compare: worker processes        (--jobs)
    device = "cpp_standalone"        # cpp_standalone, cython or numpy  (--device)
    duration = "600 s"               # simulated time per run           (--duration)
    out = "runs/pd-sweep"            # output folder                    (--out)

    [params]                         # protocol parameters              (--param key=value)
    n_trials = 100
    trial_len = "3 s"

Keys
----
protocol (string, required)
    A protocol name (``dopasim list``).
kind (string)
    ``"run"`` or ``"compare"``. Without it, a file is a comparison when ``scenarios``
    has more than one entry or ``seeds`` or ``jobs`` is given, and a run otherwise.
scenarios (string or array of strings, default ``["intact"]``)
    Scenario SPECs (`dopasim.circuits.scenarios`). A run takes one SPEC (compose with
    ``+``: ``"parkinson:loss=0.75+ssri:occupancy=0.8"``); a comparison takes one or more,
    the first being the reference.
seed (integer, run only, default 1)
    The master seed, 0 to 2**32 - 1.
seeds, jobs (integers >= 1, compare only, defaults 3 and 1)
device (string, default ``"cpp_standalone"``)
duration (string with a unit)
    The protocol's ``duration`` parameter; giving it here and in ``[params]`` is an error.
out (string)
    The run directory (run) or the comparison folder (compare). Default as on the CLI.
overwrite, quiet (booleans, default false)
figures (boolean, run only, default true)
export (string ``"nwb,csv"`` or array of strings, run only)
    Also export the spikes, as ``dopasim run --export``.
[params] (table)
    Protocol parameters. Each value is validated exactly as ``--param key=value``: a
    string is read as the command line would read it (``"3 s"``, ``"20ms"``, ``"5Hz"``),
    and a TOML number or boolean as its text (``100`` is ``"100"``, ``true`` is
    ``"true"``). A quantity needs its unit, so it must be a string.

Validation
----------
`validate_config` reads the file with `tomllib` (never ``eval``) and collects every
error at once. Each is a `ConfigError` with the dotted key (``params.trial_len``,
``scenarios[1]``), the line in the file where that key is written (``None`` for a
missing key or a value given on the command line) and a message naming the value and
what is allowed. Unknown keys get a did-you-mean. Values are checked by the same code
as the command line's (`dopasim.params`, `dopasim.circuits.scenarios`,
`dopasim.runner.prepare`), so a config accepts exactly what the CLI accepts. Nothing is
created, compiled or simulated.
"""

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dopasim.options import COMPARE_ONLY, OPTIONS, RUN_ONLY, SCHEDULING, option
from dopasim.params import ParamError, did_you_mean, resolve_params

__all__ = [
    "ConfigError",
    "KEYS",
    "in_file_order",
    "key_lines",
    "load_config",
    "read_toml",
    "validate_config",
    "run_kwargs",
    "compare_kwargs",
]

#: Top-level keys and what they hold: the declared settings (`dopasim.options`).
KEYS = {name: p.help for name, p in OPTIONS.items() if name not in SCHEDULING}


@dataclass(frozen=True)
class ConfigError:
    """One problem in a config file."""

    key: str
    line: int | None
    message: str

    def format(self, path):
        where = f"{path}:{self.line}" if self.line else f"{path}"
        return f"{where}: {self.key}: {self.message}"

    def __str__(self):
        return f"{self.key}: {self.message}"


# ---------------------------------------------------------------- key positions

_BARE = r"[A-Za-z0-9_-]+"
_KEYPART = rf'(?:{_BARE}|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_KEYPATH = rf"{_KEYPART}(?:\s*\.\s*{_KEYPART})*"
_HEADER_RE = re.compile(rf"^\s*\[\[?\s*({_KEYPATH})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"^\s*({_KEYPATH})\s*=")


def _split_keypath(text):
    parts = re.findall(_KEYPART, text)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def key_lines(text):
    """Map each key path (a tuple) to the 1-based line where it is written.

    tomllib gives no positions, so the text is scanned: table headers set the current
    table and ``key =`` lines (dotted keys included) name a key inside it. Lines inside
    multi-line strings are skipped.
    """
    lines = {}
    table = ()
    in_string = None
    for n, line in enumerate(text.splitlines(), 1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        m = _HEADER_RE.match(line)
        if m:
            table = _split_keypath(m.group(1))
            lines.setdefault(table, n)
            continue
        m = _ASSIGN_RE.match(line)
        if m:
            path = table + _split_keypath(m.group(1))
            lines.setdefault(path, n)
            rest = line[m.end() :]
            for q in ('"""', "'''"):
                if rest.count(q) % 2 == 1:
                    in_string = q
                    break
    return lines


def _item_line(text, start, needle):
    """The line, at or after ``start``, where the string ``needle`` is quoted."""
    if start is None:
        return None
    rows = text.splitlines()
    for n in range(start, min(len(rows), start + 200) + 1):
        row = rows[n - 1]
        if f'"{needle}"' in row or f"'{needle}'" in row:
            return n
    return start


# ---------------------------------------------------------------- validation


def _text(value):
    """A TOML scalar as the text the command line would have received."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


def _strip(message, name):
    """Drop the ``name: `` prefix of a `ParamError` message (the key is shown anyway)."""
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def load_config(path):
    """Read and validate ``path``; return the settings or raise `ParamError` listing every error."""
    config, errors = validate_config(path)
    if errors:
        raise ParamError("\n".join(e.format(path) for e in errors))
    return config


def validate_config(path, overrides=None):
    """Check the config file ``path`` without creating or simulating anything.

    ``overrides`` (from the command line) may set ``out``, ``overwrite``, ``quiet``,
    ``figures`` and ``export``; they replace the file's values. Returns ``(config,
    errors)``: ``config`` holds the normalized settings (``kind``, ``protocol``,
    ``scenarios`` as canonical SPECs, ``seed`` or ``seeds`` and ``jobs``, ``device``,
    ``out``, ``overwrite``, ``quiet``, ``figures``, ``export`` and ``params``, a dict of the
    raw texts exactly as ``--param`` would pass them, ``duration`` included); ``errors``
    is a list of `ConfigError`, empty when the file is valid.
    """
    data, text, errors = read_toml(path)
    if errors:
        return {}, errors
    return _validate(data, text, dict(overrides or {}), [])


def read_toml(path):
    """``(data, text, errors)`` of the TOML file ``path``; ``errors`` is one `ConfigError`
    (``file`` or ``syntax``) when it cannot be read or parsed, else empty."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}, "", [ConfigError("file", None, f"'{path}' does not exist; expected a TOML file")]
    except IsADirectoryError:
        return {}, "", [ConfigError("file", None, f"'{path}' is a directory; expected a TOML file")]
    except OSError as e:
        return {}, "", [ConfigError("file", None, f"cannot read '{path}': {e.strerror}")]
    except UnicodeDecodeError as e:
        return {}, "", [ConfigError("file", None, f"not UTF-8 text ({e.reason}); a TOML file is")]
    try:
        return tomllib.loads(text), text, []
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        return {}, text, [ConfigError("syntax", line, f"invalid TOML: {e}")]


def _validate(data, text, overrides, errors):
    from dopasim import runner
    from dopasim.circuits.scenarios import describe, parse_scenarios

    lines = key_lines(text)

    def err(key, message, line=None, path=None):
        if line is None:
            line = lines.get(path or tuple(key.split(".")))
        errors.append(ConfigError(key, line, message))

    def checked(key, value):
        """``value`` through the declared setting ``key``; None (and an error) if bad."""
        try:
            return option(key, value)
        except ParamError as e:
            err(key, _strip(str(e), key))
            return None

    def kind_of(key, value, types, allowed):
        ok = isinstance(value, types) and (types is bool or not isinstance(value, bool))
        if not ok:
            err(key, f"{value!r} is a {_toml_type(value)}; allowed: {allowed}")
        return ok

    # unknown keys, with a did-you-mean
    for key in data:
        if key not in KEYS:
            err(
                key,
                f"unknown key '{key}'{did_you_mean(key, KEYS)}; allowed: {', '.join(KEYS)}",
            )

    # protocol
    module = None
    protocol = data.get("protocol")
    if protocol is None:
        err("protocol", f"missing; allowed: one of {', '.join(runner.PROTOCOLS)}")
    elif kind_of("protocol", protocol, str, f"one of {', '.join(runner.PROTOCOLS)}"):
        try:
            module = runner.get_protocol(protocol)
        except ParamError as e:
            err("protocol", _strip(str(e), "protocol"))

    # kind
    kind = data.get("kind")
    if kind is not None and kind_of("kind", kind, str, OPTIONS["kind"].allowed()):
        kind = checked("kind", kind)
    elif kind is not None:
        kind = None
    scen_raw = data.get("scenarios", ["intact"])
    if isinstance(scen_raw, str):
        scen_raw = [scen_raw]
    if kind is None and "kind" not in data:
        many = isinstance(scen_raw, list) and len(scen_raw) > 1
        kind = "compare" if many or "seeds" in data or "jobs" in data else "run"
    for key in RUN_ONLY if kind == "compare" else COMPARE_ONLY if kind == "run" else ():
        if key in data:
            other = "run" if kind == "compare" else "compare"
            err(key, f"'{key}' is for kind = '{other}' only; this file is a {kind}")

    # scenarios
    specs = []
    if not isinstance(scen_raw, list):
        err("scenarios", f"{scen_raw!r} is a {_toml_type(scen_raw)}; allowed: SPEC strings")
        scen_raw = []
    elif not scen_raw:
        err("scenarios", "empty array; allowed: one or more SPEC strings, e.g. 'intact'")
    if kind == "run" and len(scen_raw) > 1:
        err(
            "scenarios",
            f"{len(scen_raw)} SPECs for a run; allowed: one (compose with '+', e.g. "
            "'parkinson:loss=0.75+ssri:occupancy=0.8'), or kind = 'compare'",
        )
    start = lines.get(("scenarios",))
    for i, raw in enumerate(scen_raw):
        key = f"scenarios[{i}]" if len(scen_raw) > 1 else "scenarios"
        if not isinstance(raw, str):
            err(key, f"{raw!r} is a {_toml_type(raw)}; allowed: a SPEC string", line=start)
            continue
        line = _item_line(text, start, raw)
        try:
            spec = describe(parse_scenarios(raw))
        except ParamError as e:
            err(key, f"{raw!r}: {e}", line=line)
            continue
        if spec in specs:
            err(key, f"{raw!r} is given twice (as '{spec}'); allowed: distinct SPECs", line=line)
            continue
        specs.append(spec)
        if module is not None:  # does this protocol take scenarios, is the circuit valid
            try:
                runner.prepare(module.NAME, None, 1, "numpy", None, True, spec)
            except ParamError as e:
                err(key, f"{raw!r}: {_strip(str(e), 'scenario')}", line=line)

    # seed, seeds, jobs, device: the declared settings, as on the command line
    values = {}
    for key, types in (("seed", int | str), ("seeds", int | str), ("jobs", int | str)):
        if key in data and kind_of(key, data[key], types, OPTIONS[key].allowed()):
            values[key] = checked(key, data[key])
    seed, seeds, jobs = (values.get(k, OPTIONS[k].default) for k in ("seed", "seeds", "jobs"))
    device = data.get("device", OPTIONS["device"].default)
    if kind_of("device", device, str, OPTIONS["device"].allowed()):
        device = checked("device", device) or device

    # booleans, out, export (the command line may override them)
    flags = {k: OPTIONS[k].default for k in ("overwrite", "quiet", "figures")}
    for key in flags:
        if key in data and kind_of(key, data[key], bool, "true or false"):
            flags[key] = data[key]
    out = data.get("out")
    if out is not None and not kind_of("out", out, str, "a folder path (string)"):
        out = None
    elif out is not None and not out.strip():
        err("out", "empty string; allowed: a folder path")
        out = None
    export = data.get("export")
    if export is not None:
        if isinstance(export, list) and all(isinstance(x, str) for x in export):
            export = ",".join(export)
        elif not isinstance(export, str):
            err("export", f"{export!r} is not allowed; allowed: 'nwb,csv' or ['nwb', 'csv']")
            export = None
        if export is not None:
            from dopasim.export import check_formats

            try:
                check_formats(export)
            except ParamError as e:
                err("export", _strip(_strip(str(e), "--export"), "format"))
    from_cli = set()
    for key, value in overrides.items():
        if value is None:
            continue
        from_cli.add(key)
        if key in flags:
            flags[key] = value
        elif key == "out":
            out = value
        elif key == "export":
            export = value

    # protocol parameters: every key through the CLI's own validator, one at a time
    params = {}
    table = data.get("params", {})
    if not isinstance(table, dict):
        err("params", f"{table!r} is a {_toml_type(table)}; allowed: a table [params]")
        table = {}
    param_errors = False
    if "duration" in data:
        if "duration" in table:
            err(
                "params.duration",
                "given twice (also as the top-level 'duration'); allowed: one of them",
            )
            param_errors = True
        table = {"duration": data["duration"], **table}
    for name, value in table.items():
        key = "duration" if name == "duration" and "duration" in data else f"params.{name}"
        if isinstance(value, dict | list) or not isinstance(value, str | int | float | bool):
            err(key, f"{value!r} is a {_toml_type(value)}; allowed: a string, number or boolean")
            param_errors = True
            continue
        params[name] = _text(value)
        if module is None:
            continue
        try:
            resolve_params(module.PARAMS, {name: params[name]})
        except ParamError as e:
            err(key, _strip(str(e), name))
            param_errors = True

    # the whole: cross-parameter checks, scenario against parameters, the output folder
    if module is not None and not errors and not param_errors:
        runs = specs if kind == "compare" else specs[:1]
        for spec in runs:
            try:
                runner.prepare(
                    module.NAME,
                    params,
                    seed,
                    device,
                    out if kind == "run" else None,
                    flags["overwrite"] if kind == "run" else True,
                    spec,
                )
            except ParamError as e:
                key, message = _locate(str(e), params, data, module)
                if key == "out" and "out" in from_cli:
                    err(key, message + " (--out on the command line)", line=0)
                elif key.startswith("params.") and ("params", key[7:]) not in lines:
                    err(key, message, line=lines.get(("params",)))  # a default's conflict
                else:
                    err(key, message)
                break
        if kind == "compare" and out is not None and not errors:
            from dopasim import rundir

            try:
                rundir.check_writable(Path(out), flags["overwrite"])
            except ParamError as e:
                err("out", _strip(str(e), "--out"), line=0 if "out" in from_cli else None)

    config = {
        "kind": kind,
        "protocol": module.NAME if module is not None else protocol,
        "scenarios": specs,
        "device": device,
        "out": out,
        "params": params,
        **flags,
    }
    if kind == "compare":
        config.update(seeds=seeds, jobs=jobs)
    else:
        config.update(seed=seed, export=export)
    return config, in_file_order(errors)


def in_file_order(errors):
    """``errors`` in file order (line-less ones first), each reported once."""
    seen, unique = set(), []
    for e in sorted(errors, key=lambda e: e.line or 0):
        if (e.key, e.message) not in seen:
            seen.add((e.key, e.message))
            unique.append(ConfigError(e.key, e.line or None, e.message))
    return unique


def _locate(message, params, data, module):
    """The config key that a `runner.prepare` error is about, and the message without it."""
    head, sep, rest = message.partition(": ")
    if not sep:
        return "params", message
    if head in ("--out", "out"):
        return "out", rest
    if head.startswith("scenario"):
        return "scenarios", message
    if head in ("seed", "device", "protocol"):
        return head, rest
    if head == "duration" and "duration" in data:
        return "duration", rest
    if head in params or head in {p.name for p in module.PARAMS}:
        return f"params.{head}", rest
    return "params", message


def _toml_type(value):
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def run_kwargs(config):
    """The keyword arguments of `dopasim.runner.run` for a validated run config."""
    return {
        "scenario": config["scenarios"][0] if config["scenarios"] else "intact",
        "params": dict(config["params"]),
        "seed": config["seed"],
        "device": config["device"],
        "out": config["out"],
        "overwrite": config["overwrite"],
        "quiet": config["quiet"],
        "figures": config["figures"],
    }


def compare_kwargs(config):
    """The keyword arguments of `dopasim.comparison.compare` for a validated compare config."""
    return {
        "seeds": config["seeds"],
        "jobs": config["jobs"],
        "out": config["out"],
        "params": dict(config["params"]),
        "device": config["device"],
        "overwrite": config["overwrite"],
        "quiet": config["quiet"],
    }
