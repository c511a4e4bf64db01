"""The IPython extension: `%load_ext gradcalc`, then

    %gradcalc (x+y)*z x=-2 y=5 z=-4          the line magic: returns the Result
    %%gradcalc x=-2 y=5 z=-4                 the cell magic: the cell is the program
    q = x + y
    f = q * z

Bindings are NAME=VALUE as on the command line; `W=$W` binds the notebook's variable W
(a number, a list or a numpy array, as it is), and --namespace binds every free name of
the program that the notebook defines. Options: --steps (the chain rule as LaTeX),
--graph (the picture), --json (returns the JSON document as a dict), --exact, --wrt x,y.

IPython is imported here only, when a notebook loads the extension.
"""
from __future__ import annotations

import re
import shlex
import sys

from . import api, bindings as binding_values
from .errors import GradcalcError, UsageError

_FLAGS = {"--steps", "--graph", "--json", "--exact", "--namespace"}
_VALUED = {"--wrt"}
_BINDING = re.compile(r"[A-Za-z_]\w*=")
_VARIABLE = re.compile(r"\$([A-Za-z_]\w*)")


def load_ipython_extension(ipython) -> None:
    """Registers %gradcalc and %%gradcalc (`%load_ext gradcalc`)."""
    from IPython.core.magic import no_var_expand

    @no_var_expand  # `$W` is the array itself, not its text
    def gradcalc(line: str, cell: str | None = None):
        """%gradcalc EXPR [NAME=VALUE ...] [options], or %%gradcalc [NAME=VALUE ...]
        [options] with the program as the cell (see gradcalc.magics)."""
        try:
            return run_magic(line, cell, ipython.user_ns, _display)
        except GradcalcError as exc:
            print(exc.format(), file=sys.stderr)  # one clear message, as on the command line
            return None

    ipython.register_magic_function(gradcalc, "line_cell", "gradcalc")


def _display(*objects) -> None:
    from IPython.display import display

    display(*objects)


def parse_line(line: str, cell: str | None) -> tuple[str, list[str], dict]:
    """(program, NAME=VALUE bindings, options) from the magic's line; with a cell the
    program is the cell and the line holds bindings and options only. In the line magic
    the program is the words before the bindings (quote it if it has spaces and `=`)."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the line: {exc}", line,
                         hint="close the quote") from None
    options: dict = {}
    rest = []
    k = 0
    while k < len(words):
        word = words[k]
        name, equals, value = word.partition("=")
        if name in _FLAGS and not equals:
            options[name[2:]] = True
        elif name in _VALUED:
            if not equals:
                k += 1
                if k == len(words):
                    raise UsageError(f"{name} needs a value", line,
                                     hint=f"e.g. {name} x,y")
                value = words[k]
            options[name[2:]] = value
        elif word.startswith("--"):
            where = line.find(word)
            raise UsageError(f"unknown option {word}", line, (where, where + len(word)),
                             hint="the options are " + ", ".join(sorted(_FLAGS | _VALUED)))
        else:
            rest.append(word)
        k += 1
    if cell is not None:
        program, given = cell, rest
    else:
        first = next((i for i, w in enumerate(rest) if i and _BINDING.match(w)), len(rest))
        program, given = " ".join(rest[:first]), rest[first:]
    if not program.strip():
        raise UsageError("there is no expression", line,
                         hint='e.g. %gradcalc (x+y)*z x=-2 y=5 z=-4')
    return program, given, options


def run_magic(line: str, cell: str | None, namespace: dict, display):
    """The magic's work, without IPython: evaluate, show what the options ask for, and
    return the Result (or, under --json, its JSON document as a dict)."""
    program, given, options = parse_line(line, cell)
    raw = binding_values.collect(given)
    for name, text in list(raw.items()):
        variable = _VARIABLE.fullmatch(text)
        if variable:
            raw[name] = _variable(namespace, variable.group(1))
    if options.get("namespace"):
        for name in api.compile(program).inputs:
            if name not in raw and name in namespace:
                raw[name] = _variable(namespace, name)
    wrt = options["wrt"].split(",") if "wrt" in options else None
    result = api.evaluate(program, raw, wrt=wrt, exact=bool(options.get("exact")))
    if options.get("json"):
        return result.to_dict()
    if options.get("steps"):
        display(steps_latex(result))
    if options.get("graph"):
        from .notebook import svg

        picture = svg(result)
        if picture is None:
            raise UsageError("--graph needs Graphviz's `dot` program (or a smaller graph)",
                             hint="install Graphviz, or leave out --graph")
        display(_SVG(picture))
    return result


def _variable(namespace: dict, name: str):
    """A notebook variable as a binding: a number, a (nested) list or a numpy array."""
    if name not in namespace:
        raise UsageError(f"${name} is not a variable of the notebook",
                         hint=f"define {name} first, or write its value: {name}=...")
    value = namespace[name]
    if isinstance(value, bool) or not (isinstance(value, (int, float, list, tuple, str))
                                       or hasattr(value, "__array__")):
        raise UsageError(f"${name} is a {type(value).__name__}, not a number or an array",
                         hint=f"bind {name} to a number, a list or a numpy array")
    return list(value) if isinstance(value, tuple) else value


class _Latex:
    """Text that a notebook shows as LaTeX math (MathJax renders align*)."""

    def __init__(self, text: str, plain: str):
        self.text, self.plain = text, plain

    def _repr_latex_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.plain


class _SVG:
    def __init__(self, text: str):
        self.text = text

    def _repr_svg_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return "<the graph as SVG>"


def steps_latex(result, precision: int = 6) -> _Latex:
    """--steps for a notebook: the align* (without the LaTeX comment line), and the
    terminal's lines as the plain text."""
    from . import latex, render

    text = latex.steps(result.graph, result.run, precision)
    plain = "\n".join(render.steps(result.graph, result.run, precision))
    return _Latex(text.split("\n", 1)[1], plain)
