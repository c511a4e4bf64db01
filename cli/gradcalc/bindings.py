"""Values for the free names: `NAME=VALUE` arguments, a --bindings JSON file, API keywords.

A VALUE is a number, a nested list for a vector or matrix, or a constant expression
(`1/3`, `pi/4`, `[[0.1, 0.5], [-0.3, 0.8]]`). Text is parsed and evaluated by gradcalc's
own parser and engine: user text is never run as Python.

Resolution has two steps so that the number system can be chosen in between: `collect`
gathers the raw values (text, numbers, lists), `resolve` turns them into numbers of the
chosen system (floats, rationals or numpy arrays).
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager

from . import jsonread
from .errors import BindingError, GradcalcError, LimitError, UndefinedNameError, UsageError
from .files import open_error
from .limits import MAX_DATA_FILE
from .lower import lower
from .parse import parse_expression
from .run import forward

NAME = re.compile(r"[^\W\d]\w*\Z")
LISTED = 20  # names of a --bindings file listed in a message, at most


def _command_path() -> str:
    """The command being run (`gradcalc hessian`), for a hint; `gradcalc eval` outside one."""
    import click

    context = click.get_current_context(silent=True)
    return context.command_path if context is not None else "gradcalc eval"


def split_assignment(arg: str) -> tuple[str, str]:
    """`x=-2` → ("x", "-2"), with a clear error for anything else."""
    name, equals, value = arg.partition("=")
    name = name.strip()
    if arg.startswith("-") and not equals:
        raise UsageError(f"no such option: {arg}", arg, (0, len(arg)),
                         hint=f"see `{_command_path()} --help` for the options")
    if not equals:
        raise _not_a_binding(arg)
    if not NAME.match(name):
        raise BindingError(f"'{name}' is not a valid name", arg, (0, max(len(name), 1)),
                           hint="names are letters, digits and _, not starting with a digit")
    if not value.strip():
        raise BindingError(f"the binding {name}= has no value", arg, (len(arg) - 1, len(arg)),
                           hint=f"give a number, e.g. {name}=1")
    return name, value


def _not_a_binding(arg: str) -> BindingError:
    """An argument without '=': a binding written another way (`x:2`), a bare name, or
    a piece of an expression that was not quoted."""
    span = (0, len(arg))
    name, colon, value = arg.partition(":")
    if colon and NAME.match(name.strip()) and value.strip():
        return BindingError(f"'{arg}' is not a binding", arg, span,
                            hint=f"write `{name.strip()}={value.strip()}`: "
                                 "bindings are NAME=VALUE")
    if NAME.match(arg):
        return BindingError(f"'{arg}' is not a binding", arg, span,
                            hint=f"give it a value, e.g. `{arg}=1`")
    return BindingError(f"'{arg}' is not a binding", arg, span,
                        hint="bindings are NAME=VALUE; put the whole expression first, "
                             "in quotes")


def collect(args=(), path: str | None = None) -> dict:
    """Raw values from a --bindings file and `NAME=VALUE` arguments (which win over the
    file). A name given twice among the arguments is an error naming both values."""
    raw = read_file(path) if path else {}
    given: dict[str, str] = {}
    for arg in args:
        name, text = split_assignment(arg)
        if name in given:
            raise BindingError(f"{name} is bound twice: {given[name]} and {arg}",
                               arg, (0, len(arg)), hint="keep the one you mean")
        given[name] = arg
        raw[name] = text
    return raw


def read_file(path: str) -> dict:
    """A --bindings file: a JSON object of names to numbers, lists or constant expressions,
    or an .npz archive of arrays (each bound by its name)."""
    if path.lower().endswith(".npz"):
        from .arrayfiles import read_npz  # numpy only for an archive of arrays

        return read_npz(path)
    if path.lower().endswith(".npy"):  # one array, without a name to bind it to
        raise UsageError(f"--bindings takes a JSON object or an .npz archive of named "
                         f"arrays, and {path} holds one array without a name",
                         hint=f"bind it by its name: NAME=@{path}")
    return read_json_object(path, "the bindings file", '{"x": -2, "t": "pi/4"}',
                            parse_float=_json_number)


def _json_number(text: str):
    """A number past the float range (1e-400) is kept as its text, a constant expression,
    so that it is warned about as on the command line (and is exact under --exact)."""
    value = float(text)
    beyond = math.isinf(value) or value == 0 and text.lower().partition("e")[0].strip("0.-")
    return text if beyond else value


@contextmanager
def naming_the_file(path: str | None):
    """A name left unbound while a --bindings file was given: the hint lists what the
    file binds (a missing array in an .npz is the usual cause)."""
    try:
        yield
    except UndefinedNameError as exc:
        if path is None or not exc.unbound:
            raise
        held = list(read_file(path))
        listed = ", ".join(held[:LISTED]) + (f" and {len(held) - LISTED:,} more"
                                              if len(held) > LISTED else "")
        exc.hint = (f"{path} binds {listed or 'nothing'}; "
                    f"bind {' '.join(f'{n}=...' for n in exc.unbound)} on the command line "
                    "or add it to the file")
        raise


def read_json_object(path: str, what: str, example: str, parse_float=None) -> dict:
    """A JSON file that must hold one object (`what` names the file in messages); no more
    than MAX_DATA_FILE bytes of it are read (`/dev/zero` is refused at once).
    `parse_float` as json.load's (decimal.Decimal keeps the digits as written)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DATA_FILE + 1)
    except (OSError, ValueError) as exc:
        raise open_error(path, exc, f"give a JSON file such as {example}", what) from None
    if len(data) > MAX_DATA_FILE:
        raise LimitError(f"{what} {path} is longer than {MAX_DATA_FILE:,} bytes",
                         hint="give large data to `gradcalc batch` as rows, or in Python")
    try:
        data = jsonread.loads(data.decode("utf-8-sig"), parse_float)
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
        if not isinstance(name, str) or not NAME.match(name):
            raise BindingError(f"'{name}' is not a valid name")
        result[name] = lower_value(value, f"{name}=")
    return result


def lower_value(value, label: str, what: str = "the binding"):
    """One raw value: text becomes a lowered constant expression, `@FILE` the file's array
    (gradcalc.arrayfiles); numbers stay."""
    if isinstance(value, str) and value.lstrip().startswith("@"):
        return _array_file(value, label, what)
    if isinstance(value, str):
        return _constant_graph(value, label, what)
    if isinstance(value, bool) or not (isinstance(value, (int, float, list))
                                       or hasattr(value, "__array__")
                                       or hasattr(value, "numerator")):
        raise BindingError(f"the value of {label[:-1]} must be a number, a nested list or a "
                           f"constant expression, not {type(value).__name__}")
    return value


def _array_file(text: str, label: str, what: str):
    """`@W.npy`: the array in the file; an error about it has its caret under the path."""
    from .arrayfiles import read_array  # numpy only when a file of arrays is named

    path = text.lstrip()[1:]
    if not path.strip():
        raise BindingError(f"in {what} {label}{text}: @ names no file", label + text,
                           (len(label + text) - 1, len(label + text)),
                           hint=f"write the file's path after @, e.g. {label}@W.npy")
    try:
        return read_array(path)
    except UsageError as exc:
        start = len(label) + len(text) - len(path)
        raise BindingError(f"in {what} {label}{text}: {exc.message}", label + text,
                           (start, start + max(len(path), 1)), exc.hint) from None


def uses_arrays(values: dict) -> bool:
    """Whether any value is a vector or matrix (so numpy must compute)."""
    for value in values.values():
        if getattr(value, "uses_arrays", False) or isinstance(value, list) \
                or getattr(value, "ndim", 0):
            return True
    return False


def resolve(values: dict, xp) -> dict:
    """The lowered values as numbers of the number system `xp`; an integer array (labels,
    indices) stays an int64 array (see `integer_inputs`)."""
    return {name: _integers(value, f"the value of {name}") if is_integer_array(value)
            else resolve_value(value, xp, f"{name}=") for name, value in values.items()}


def is_integer_array(value) -> bool:
    """A numpy array of integers or booleans with one dimension or more."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and dtype.kind in "iub" and value.ndim > 0


def integer_inputs(values: dict) -> set[str]:
    """The names bound to integer arrays: as an integer tensor in PyTorch, they take no
    gradient (gradcalc.lower.mark_needs_grad)."""
    return {name for name, value in values.items() if is_integer_array(value)}


def _integers(value, what: str):
    from .arrayfiles import as_value  # numpy is loaded: the value is an array

    return as_value(value, what)


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
