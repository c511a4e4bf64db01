"""Values for the free names: `NAME=VALUE` arguments, a --bindings JSON file, API keywords.

A VALUE is a number or a constant expression (`1/3`, `pi/4`, `-2^0.5`). It is parsed and
evaluated by gradcalc's own parser and engine: user text is never run as Python.
"""
from __future__ import annotations

import json
import re

from .errors import BindingError, GradcalcError, UsageError
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


def constant_value(text: str, xp, label: str = "", what: str = "the binding"):
    """Evaluate a constant expression such as `1/3` or `pi/4` in the number system `xp`.

    Errors keep their caret: they are reported against `label` + text (e.g. `x=1/0`),
    as "in {what} {label}{text}".
    """
    offset = len(label)
    try:
        graph = lower(parse_expression(text), bound=set())
        run = forward(graph, {}, xp)
    except GradcalcError as exc:
        if not label:
            raise
        span = None if exc.span is None else (exc.span[0] + offset, exc.span[1] + offset)
        kind = type(exc) if exc.kind != "name" else BindingError
        error = kind(f"in {what} {label}{text}: {exc.message}", label + text, span,
                     exc.hint if exc.kind != "name" else
                     "a value may use numbers, pi, e and functions, but no other names")
        raise error from None
    return run.values[graph.output]


def from_arguments(args, xp) -> dict:
    """`NAME=VALUE` command-line arguments → {name: value}; later ones win."""
    values = {}
    for arg in args:
        name, text = split_assignment(arg)
        values[name] = constant_value(text, xp, label=f"{name}=")
    return values


def from_file(path: str, xp) -> dict:
    """A --bindings JSON file: an object of names to numbers or constant expressions."""
    return from_mapping(read_json_object(path, "the bindings file", '{"x": -2, "t": "pi/4"}'), xp)


def read_json_object(path: str, what: str, example: str) -> dict:
    """A JSON file that must hold one object (`what` names the file in messages)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}",
                         hint="check the path") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path} is not valid JSON: {exc.msg} "
                         f"at line {exc.lineno}, column {exc.colno}",
                         hint=f"write an object such as {example}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} must hold a JSON object",
                         hint=f"write an object such as {example}")
    return data


def from_mapping(mapping: dict, xp) -> dict:
    """API keywords or a JSON object: numbers as they are, strings as constant expressions."""
    values = {}
    for name, value in mapping.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise BindingError(f"'{name}' is not a valid name")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) \
                and not hasattr(value, "numerator"):
            raise BindingError(f"the value of {name} must be a number or a constant "
                               f"expression, not {type(value).__name__}",
                               hint="vectors and matrices are not supported yet")
        if isinstance(value, str):
            values[name] = constant_value(value, xp, label=f"{name}=")
        else:
            values[name] = xp.convert(value)
    return values
