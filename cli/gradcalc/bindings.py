"""Values for the free names: `NAME=VALUE` arguments, a --bindings JSON file, API keywords.

A VALUE is a number, a nested list for a vector or matrix, or a constant expression
(`1/3`, `pi/4`, `[[0.1, 0.5], [-0.3, 0.8]]`). Text is parsed and evaluated by gradcalc's
own parser and engine: user text is never run as Python.

Resolution has two steps so that the number system can be chosen in between: `collect`
gathers the raw values (text, numbers, lists), `resolve` turns them into numbers of the
chosen system (floats, rationals or numpy arrays).
"""
from __future__ import annotations

import re

from . import jsonread
from .errors import BindingError, GradcalcError, LimitError, UsageError
from .limits import MAX_DATA_FILE
from .lower import lower
from .parse import parse_expression
from .run import forward

_NAME = re.compile(r"[^\W\d]\w*\Z")


def split_assignment(arg: str) -> tuple[str, str]:
    """`x=-2` → ("x", "-2"), with a clear error for anything else."""
    name, equals, value = arg.partition("=")
    name = name.strip()
    if arg.startswith("-") and not equals:
        raise UsageError(f"no such option: {arg}", arg, (0, len(arg)),
                         hint="see `gradcalc eval --help` for the options")
    if not equals:
        raise BindingError(f"'{arg}' is not a binding", arg, (0, len(arg)),
                           hint=f"bindings look like NAME=VALUE, e.g. {arg}=1; "
                                "put the expression first, in quotes")
    if not _NAME.match(name):
        raise BindingError(f"'{name}' is not a valid name", arg, (0, max(len(name), 1)),
                           hint="names are letters, digits and _, not starting with a digit")
    if not value.strip():
        raise BindingError(f"the binding {name}= has no value", arg, (len(arg) - 1, len(arg)),
                           hint=f"give a number, e.g. {name}=1")
    return name, value


def collect(args=(), path: str | None = None) -> dict:
    """Raw values from a --bindings file and `NAME=VALUE` arguments (which win)."""
    raw = read_file(path) if path else {}
    for arg in args:
        name, text = split_assignment(arg)
        raw[name] = text
    return raw


def read_file(path: str) -> dict:
    """A --bindings JSON file: an object of names to numbers, lists or constant expressions."""
    return read_json_object(path, "the bindings file", '{"x": -2, "t": "pi/4"}')


def read_json_object(path: str, what: str, example: str) -> dict:
    """A JSON file that must hold one object (`what` names the file in messages); no more
    than MAX_DATA_FILE bytes of it are read (`/dev/zero` is refused at once)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DATA_FILE + 1)
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}",
                         hint="check the path") from None
    if len(data) > MAX_DATA_FILE:
        raise LimitError(f"{what} {path} is longer than {MAX_DATA_FILE:,} bytes",
                         hint="give large data to `gradcalc batch` as rows, or in Python")
    try:
        data = jsonread.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None
    except jsonread.JsonProblem as exc:
        raise UsageError(f"{what} {path} cannot be used: {exc.message}{exc.where()}",
                         hint=f"write an object such as {example}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must hold a JSON object",
                         hint=f"write an object such as {example}")
    return data


def lowered(raw: dict) -> dict:
    """Each text value parsed and lowered once (a graph); other values as they are."""
    result = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise BindingError(f"'{name}' is not a valid name")
        result[name] = lower_value(value, f"{name}=")
    return result


def lower_value(value, label: str, what: str = "the binding"):
    """One raw value: text becomes a lowered constant expression; numbers stay."""
    if isinstance(value, str):
        return _constant_graph(value, label, what)
    if isinstance(value, bool) or not (isinstance(value, (int, float, list))
                                       or hasattr(value, "__array__")
                                       or hasattr(value, "numerator")):
        raise BindingError(f"the value of {label[:-1]} must be a number, a nested list or a "
                           f"constant expression, not {type(value).__name__}")
    return value


def uses_arrays(values: dict) -> bool:
    """Whether any value is a vector or matrix (so numpy must compute)."""
    for value in values.values():
        if getattr(value, "uses_arrays", False) or isinstance(value, list) \
                or getattr(value, "ndim", 0):
            return True
    return False


def resolve(values: dict, xp) -> dict:
    """The lowered values as numbers of the number system `xp`."""
    return {name: resolve_value(value, xp, f"{name}=") for name, value in values.items()}


def constant_value(text: str, xp, label: str = "", what: str = "the binding"):
    """Evaluate a constant expression such as `1/3` or `pi/4` in the number system `xp`.

    Errors keep their caret, against `label` + text, as "in {what} {label}{text}".
    """
    return resolve_value(_constant_graph(text, label, what), xp, label, what)


def _constant_graph(text: str, label: str, what: str = "the binding"):
    try:
        return lower(parse_expression(text), bound=set())
    except GradcalcError as exc:
        raise _relabel(exc, text, label, what) from None


def resolve_value(value, xp, label: str, what: str = "the binding"):
    """One lowered value (see `lower_value`) as a number of the number system `xp`."""
    if hasattr(value, "nodes"):  # a lowered constant expression
        if value.uses_arrays and xp.name != "array":  # an answer to a scalar check, say
            raise BindingError(f"in {what} {label}{value.source}: a vector or matrix, where "
                               "a number is expected", label + value.source,
                               (len(label), len(label) + len(value.source)),
                               "give a number, or a constant expression such as 1/3")
        try:
            return forward(value, {}, xp).values[value.output]
        except GradcalcError as exc:
            raise _relabel(exc, value.source, label, what) from None
    try:
        number = xp.convert(value)
    except (TypeError, ValueError) as exc:
        raise BindingError(f"the value of {label[:-1]} is not usable: {exc}",
                           hint="give a number or a nested list of numbers") from None
    except OverflowError:  # a JSON integer of 309 digits or more
        raise BindingError(f"the value of {label[:-1]} is too large for a float "
                           "(past 1.8e308)", hint="give a smaller number, or use --exact"
                           ) from None
    if getattr(number, "size", 1) == 0:  # as the language's `[]`: no shape to compute with
        raise BindingError(f"the value of {label[:-1]} is empty: a vector or matrix has at "
                           "least one element", hint="write at least one element, e.g. [0]")
    return number


def _relabel(exc: GradcalcError, text: str, label: str, what: str) -> GradcalcError:
    """An error inside a value, shown against the whole `name=value`."""
    if not label:
        return exc
    offset = len(label)
    span = None if exc.span is None else (exc.span[0] + offset, exc.span[1] + offset)
    message = f"in {what} {label}{text}: {exc.message}"
    if exc.kind == "name":
        return BindingError(message, label + text, span,
                            "a value may use numbers, pi, e and functions, but no other names")
    return type(exc)(message, label + text, span, exc.hint)
