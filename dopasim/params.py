"""The one parameter vocabulary: declared fields, their parsing and their validation.

A `Param` declares one field: name, default, kind, unit, allowed range or choices, help
and citation. The same declarations serve the CLI (``--param``, ``--seed``...), TOML
configs, scenario keys (`dopasim.circuits.scenarios`), ``dopasim list``, the generated
docs tables and the validation of parameter dataclasses (`check_fields`).

Values with units are written like ``600s``, ``600 s`` or ``5Hz`` and parsed against
Brian2's unit registry (never with ``eval``). Every error is a `ParamError` that names the
field, the value and what is allowed; the CLI turns it into exit code 2.
"""

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

import brian2
from brian2 import Quantity, get_dimensions
from brian2.units.fundamentalunits import DIMENSIONLESS, DimensionMismatchError

__all__ = [
    "ParamError",
    "Param",
    "parse_quantity",
    "resolve_params",
    "check_fields",
    "fraction",
    "did_you_mean",
]


class ParamError(ValueError):
    """Bad user input: the message names the field, the value and what is allowed."""


def did_you_mean(name, choices, cutoff=0.5):
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or '' if none is close.

    ``cutoff=0`` always names the closest choice.
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


_QUANTITY_RE = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)\s*([A-Za-z_]\w*)?\s*$"
)


def parse_quantity(text, unit, field_name="value"):
    """Parse ``'600s'`` / ``'600 s'`` / ``'5 Hz'`` into a Quantity with the dimensions of ``unit``.

    A bare number is refused when ``unit`` has dimensions: the unit must be explicit.
    """
    if isinstance(text, Quantity):
        q = text
    else:
        m = _QUANTITY_RE.match(str(text))
        if not m:
            raise ParamError(
                f"{field_name}: cannot read {str(text)!r} as a quantity like '10 {unit!s}'"
            )
        number, unit_name = float(m.group(1)), m.group(2)
        if unit_name is None:
            if get_dimensions(unit) is not DIMENSIONLESS:
                raise ParamError(
                    f"{field_name}: '{text}' has no unit; write it with a unit, e.g. '{text}{_short(unit)}'"
                )
            q = Quantity(number)
        else:
            u = _ALIASES.get(unit_name)
            if u is None:
                u = getattr(brian2.units, unit_name, None) or getattr(
                    brian2.units.allunits, unit_name, None
                )
            if not isinstance(u, Quantity):
                raise ParamError(f"{field_name}: unknown unit '{unit_name}' in '{text}'")
            q = number * u
    try:
        brian2.units.fundamentalunits.fail_for_dimension_mismatch(q, unit)
    except DimensionMismatchError:
        raise ParamError(
            f"{field_name}: '{text}' has the wrong unit; expected a quantity in {_short(unit)}"
        ) from None
    if not math.isfinite(float(q)):
        raise ParamError(f"{field_name}: '{text}' is not a finite number")
    return q


#: Short names that Brian2 does not export on their own.
_ALIASES = {
    "s": brian2.second,
    "sec": brian2.second,
    "min": 60 * brian2.second,
    "h": 3600 * brian2.second,
    # Brian2 prints long durations with these (str(3200 * second) == '3.2 ks') but does
    # not export them: a run's metadata must read back
    "ks": 1e3 * brian2.second,
    "Ms": 1e6 * brian2.second,
}


def _short(unit):
    if isinstance(unit, brian2.Unit):
        return str(unit)
    names = {"second": "s", "hertz": "Hz", "volt": "V", "metre": "m"}
    dim = get_dimensions(unit)
    return names.get(str(brian2.units.fundamentalunits.get_unit(dim)), str(unit))


@dataclass(frozen=True)
class Param:
    """One declared field.

    ``kind`` is ``'quantity'`` (then ``unit`` is required), ``'int'``, ``'float'``,
    ``'choice'`` (then ``choices``), ``'str'`` (checked by its owner) or ``'bool'``.
    ``low``/``high`` bound numbers, in units of ``unit`` for a quantity (inclusive unless
    ``low_open``/``high_open``). ``cite`` names the source of the default (authors, year,
    journal), or says ``hypothesis``.
    """

    name: str
    default: Any
    kind: str
    help: str
    unit: Any = None
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    cite: str = ""
    extra: dict = field(default_factory=dict)

    def parse(self, raw, where=None):
        """``raw`` (a string as typed, or a value) as this field's type, range-checked.

        Errors name ``where`` (default: the field's name), the value and what is allowed.
        """
        n = where or self.name
        if self.kind == "quantity":
            value = parse_quantity(raw, self.unit, n)
            number = float(value / self.unit)
        elif self.kind == "int":
            if isinstance(raw, bool) or isinstance(raw, float):
                raise ParamError(f"{n}: {raw!r} is not an integer; allowed: {self.allowed()}")
            try:
                value = int(str(raw).strip()) if not isinstance(raw, int) else raw
            except ValueError:
                raise ParamError(
                    f"{n}: '{raw}' is not an integer; allowed: {self.allowed()}"
                ) from None
            number = value
        elif self.kind == "float":
            if isinstance(raw, bool):
                raise ParamError(f"{n}: {raw!r} is not a number; allowed: {self.allowed()}")
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ParamError(
                    f"{n}: '{raw}' is not a number; allowed: {self.allowed()}"
                ) from None
            if not math.isfinite(value):
                raise ParamError(f"{n}: '{raw}' is not a finite number; allowed: {self.allowed()}")
            number = value
        elif self.kind == "choice":
            value = str(raw).strip()
            if value not in self.choices:
                raise ParamError(
                    f"{n}: '{raw}' is not allowed; allowed: {self.allowed()}"
                    + did_you_mean(value, self.choices)
                )
            return value
        elif self.kind == "str":
            return str(raw)
        elif self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ParamError(f"{n}: '{raw}' is not allowed; allowed: {self.allowed()}")
        else:  # pragma: no cover - programming error
            raise AssertionError(self.kind)
        self._check_range(number, raw, n)
        return value

    def check(self, value, where=None):
        """Validate an already-typed value (a dataclass field); return it unchanged."""
        n = where or self.name
        if isinstance(value, str) and self.kind in ("quantity", "int", "float", "bool"):
            raise ParamError(f"{n}: {value!r} is a string; allowed: {self.allowed()}")
        if self.kind == "choice" and value not in self.choices:
            raise ParamError(f"{n}: {value!r} is not allowed; allowed: {self.allowed()}")
        elif self.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ParamError(f"{n}: {value!r} is not an integer; allowed: {self.allowed()}")
        self.parse(value, n)
        return value

    def allowed(self):
        """What is allowed, in words: ``'0 to 1'``, ``'> 0 s'``, ``'one of a, b'``."""
        if self.kind == "choice":
            *head, last = self.choices
            return f"{', '.join(head)} or {last}" if head else last
        if self.kind == "bool":
            return "true or false (on or off)"
        unit = f" {_short(self.unit)}" if self.kind == "quantity" else ""
        lo, hi = _num(self.low), _num(self.high)
        if lo is not None and hi is not None:
            if not (self.low_open or self.high_open):
                return f"{lo} to {hi}{unit}"
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"{left}{lo}, {hi}{right}{unit}"
        if lo is not None:
            return f"{'>' if self.low_open else '>='} {lo}{unit}"
        if hi is not None:
            return f"{'<' if self.high_open else '<='} {hi}{unit}"
        return "any finite value" + unit

    def default_text(self):
        """The default as a user would type it (``'10nM'``, ``'on'``, ``'3'``)."""
        v = self.default
        if self.kind == "quantity" and self.unit is not None:
            return f"{float(v / self.unit):g}{_short(self.unit)}"
        if self.kind == "bool":
            return "on" if v else "off"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    def _check_range(self, number, raw, where):
        lo, hi = self.low, self.high
        # unit conversion is not exact (1000 nM / nM = 1000.0000000000001): the bounds
        # get a relative slack of 1e-9
        eps = 1e-9 * max(abs(lo or 0), abs(hi or 0), 1.0) if self.kind == "quantity" else 0
        bad = (lo is not None and (number <= lo if self.low_open else number < lo - eps)) or (
            hi is not None and (number >= hi if self.high_open else number > hi + eps)
        )
        if bad:
            raise ParamError(
                f"{where}: '{raw}' is outside the allowed range; allowed: {self.allowed()}"
            )


def fraction(name, help_="", default=None, cite=""):
    """A declared number in [0, 1] (a probability, a share, a level)."""
    return Param(name, default, "float", help_, low=0.0, high=1.0, cite=cite)


def _num(x):
    """A bound as text: whole numbers in full (4294967295), others with %g."""
    if x is None:
        return None
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def check_fields(obj, specs, where=""):
    """Check the fields of ``obj`` (a parameter dataclass) named in ``specs``.

    ``specs`` is a sequence of `Param` whose names are attributes of ``obj``. Raises
    `ParamError` (a ``ValueError``) naming ``where`` + the field, the value and what is
    allowed.
    """
    for p in specs:
        p.check(getattr(obj, p.name), f"{where}{p.name}")


def resolve_params(specs, overrides):
    """Merge ``overrides`` (a dict of raw strings or values) into the defaults of ``specs``.

    Unknown keys are errors with a did-you-mean. Returns a dict name -> parsed value.
    """
    by_name = {p.name: p for p in specs}
    values = {p.name: p.default for p in specs}
    for key, raw in overrides.items():
        if key not in by_name:
            raise ParamError(
                f"unknown parameter '{key}'"
                + did_you_mean(key, by_name)
                + f"; known: {', '.join(sorted(by_name))}"
            )
        values[key] = by_name[key].parse(raw)
    return values


def to_jsonable(value):
    """Represent parameter values (Quantities included) as JSON-friendly data."""
    if isinstance(value, Quantity):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    # anything else (a state updater object, a function): a stable name, never a
    # memory address, so that the provenance of two identical runs is identical
    name = getattr(value, "__name__", None)
    if isinstance(name, str):
        return name
    text = repr(value)
    if " at 0x" in text:
        return f"{type(value).__module__}.{type(value).__qualname__}"
    return text
