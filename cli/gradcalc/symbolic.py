"""Formulas (`eval --symbolic`): the op table run in SymPy's numbers.

The same forward and backward passes (gradcalc.run) and the same rules (gradcalc.ops) run
with every input a SymPy symbol, so each node's value, local gradients and ∂f/∂node come
out as formulas, then simplified. SymPy is an optional extra (`pip install
"gradcalc[symbolic]"`), imported only here, and this module only under --symbolic.

Kinks read as the table's conventions: relu's local gradient is
Piecewise((1, a > 0), (0, True)) (0 at 0), abs's is sign(a) (0 at 0). max and min choose
their winner by comparing values for equality, which a formula cannot do; their local
gradients are SymPy's derivatives instead, Heaviside(a - b), with Heaviside(0) = 1/2:
at a tie of two arguments the gradient is split evenly, as --ties split. For the same
reason (Python's == and != on formulas compare their text) ==, != and where's test of its
condition are restated with SymPy's Eq and Ne, and differentiated by SymPy too.
"""
from __future__ import annotations

import copy
from contextlib import nullcontext
from functools import partial

from .arith import FloatArith
from .errors import LimitError, UsageError
from .ops import CONSTANTS

try:
    import sympy
except ImportError:  # pragma: no cover - exercised by test_symbolic's missing-SymPy test
    sympy = None

# Ops whose rules compare values for equality (max's winner): differentiated by SymPy.
BY_SYMPY = ("max", "min")
TIE_NOTE = ("at a tie of max or min, Heaviside(0) = 1/2: the gradient is split evenly "
            "between two tied arguments")


def refuse_arrays(graph, values: dict) -> None:
    """Formulas are per scalar: vectors and matrices are refused (gradcalc.dual)."""
    from .dual import refuse_arrays as refuse

    refuse(graph, values, "--symbolic",
           "drop --symbolic: eval gives the values and gradients of vectors and matrices")


def require_sympy() -> None:
    """A clear message when the optional extra is not installed."""
    if sympy is None:
        raise UsageError("--symbolic needs SymPy, which is not installed",
                         hint='install it with: pip install "gradcalc[symbolic]"')


if sympy is not None:
    class sigmoid(sympy.Function):  # noqa: N801 - printed as people write it
        """σ(a) = 1/(1 + e^-a), kept whole in formulas: sigmoid(w*x + b)."""

        @classmethod
        def eval(cls, a):
            if a.is_zero:
                return sympy.Rational(1, 2)
            return None

        def fdiff(self, argindex=1):
            return self * (1 - self)

        def _eval_rewrite_as_exp(self, a, **kwargs):
            return 1 / (1 + sympy.exp(-a))

        def _eval_evalf(self, prec):
            return self._eval_rewrite_as_exp(*self.args)._eval_evalf(prec)

        def _latex(self, printer, exp=None):
            """σ(b + w x), as SymPy's LaTeX printer writes a function named sigma."""
            return printer._print(sympy.Function("sigma")(*self.args), exp=exp)

    class softplus(sympy.Function):  # noqa: N801
        """log(1 + e^a), kept whole in formulas."""

        def fdiff(self, argindex=1):
            return sigmoid(self.args[0])

        def _eval_rewrite_as_exp(self, a, **kwargs):
            return sympy.log(1 + sympy.exp(a))

        def _eval_evalf(self, prec):
            return self._eval_rewrite_as_exp(*self.args)._eval_evalf(prec)

    class tanh(sympy.Function):  # noqa: N801
        """tanh kept opaque to simplify: SymPy's own tanh sends it through hyperbolic
        identities, seconds per formula for a sum of three (a layer of neurons), and
        rewrites 1 - tanh² as 1/cosh², not as people write it. Printed as SymPy's is."""

        @classmethod
        def eval(cls, a):
            if a.is_zero:
                return sympy.Integer(0)
            if a.could_extract_minus_sign():
                return -cls(-a)
            return None

        def fdiff(self, argindex=1):
            return 1 - self ** 2

        def _eval_evalf(self, prec):
            return sympy.tanh(self.args[0])._eval_evalf(prec)


def plain(formula):
    """A formula in SymPy's own functions, as its `sympify` reads back: sigmoid and
    softplus written out."""
    return formula.replace(sigmoid, lambda a: 1 / (1 + sympy.exp(-a))) \
        .replace(softplus, lambda a: sympy.log(1 + sympy.exp(a))) \
        .replace(tanh, sympy.tanh)


class SymbolicArith(FloatArith):
    """The op table's namespace over SymPy expressions (real symbols).

    A condition that a formula cannot decide (a > 0 for a symbol a) makes a Piecewise in
    `where`, and counts as met in a domain or kink check (`all`): formulas hold where the
    expression is defined; bindings are checked by the numeric pass.
    """

    name = "symbolic"

    @staticmethod
    def quiet():
        return nullcontext()

    @staticmethod
    def number(text: str):
        for name, digits in CONSTANTS.items():
            if text == digits:
                return sympy.pi if name in ("pi", "π") else sympy.E
        return sympy.Rational(text)

    @staticmethod
    def convert(value):
        # strict: a number becomes SymPy's, text is refused (sympify would eval it)
        return sympy.sympify(value, strict=True)

    @staticmethod
    def zero(like):
        return sympy.Integer(0)

    @staticmethod
    def show(value) -> str:
        return str(value)

    @staticmethod
    def all(condition) -> bool:
        return condition is not False and condition is not sympy.false

    @staticmethod
    def isfinite(a) -> bool:
        return not (getattr(a, "is_infinite", False) or a is sympy.nan)

    @staticmethod
    def is_integer(a) -> bool:
        return bool(getattr(a, "is_integer", False))

    @staticmethod
    def where(condition, if_true, if_false):
        if condition in (True, False):
            return if_true if condition else if_false
        return sympy.Piecewise((if_true, condition), (if_false, True))

    exp = staticmethod(lambda a: sympy.exp(a))
    log = staticmethod(lambda a: sympy.log(a))
    log10 = staticmethod(lambda a: sympy.log(a, 10))
    log2 = staticmethod(lambda a: sympy.log(a, 2))
    sqrt = staticmethod(lambda a: sympy.sqrt(a))
    sin = staticmethod(lambda a: sympy.sin(a))
    cos = staticmethod(lambda a: sympy.cos(a))
    tan = staticmethod(lambda a: sympy.tan(a))
    tanh = staticmethod(lambda a: tanh(a))
    sigmoid = staticmethod(lambda a: sigmoid(a))
    softplus = staticmethod(lambda a: softplus(a))
    sign = staticmethod(lambda a: sympy.sign(a))
    power = staticmethod(lambda a, b: a ** b)
    # The slopes as people write them: σ(a)(1 − σ(a)), 1 − tanh²(a), b·a^(b-1).
    sigmoid_slope = staticmethod(lambda out, a: out * (1 - out))
    tanh_slope = staticmethod(lambda out, a: 1 - out ** 2)
    power_slope = staticmethod(lambda out, a, b: b * a ** (b - 1))
    divide = staticmethod(lambda a, b: a / b)
    max = staticmethod(lambda args: sympy.Max(*args))
    min = staticmethod(lambda args: sympy.Min(*args))


def _differentiated(op):
    """op with local gradients from SymPy's derivative of its forward rule."""
    def local(xp, out, *args):
        fresh = sympy.symbols(f"_arg0:{len(args)}", real=True)
        formula = op.forward(xp, *fresh)
        return tuple(sympy.diff(formula, s).subs(dict(zip(fresh, args))) for s in fresh)
    return op.replace(local=local)


def _restated():
    """The forward rules that test equality, with SymPy's Eq and Ne."""
    def mask(holds):
        return sympy.Piecewise((1, holds), (0, True))
    return {"equal": lambda xp, a, b: mask(sympy.Eq(a, b)),
            "not_equal": lambda xp, a, b: mask(sympy.Ne(a, b)),
            "where": lambda xp, condition, a, b:
            sympy.Piecewise((a, sympy.Ne(condition, 0)), (b, True))}


def _for_formulas(graph):
    """The graph with max and min differentiated by SymPy, and ==, != and where restated
    (a copy; the graph is kept)."""
    restated = _restated()
    nodes = []
    for node in graph.nodes:
        name = getattr(node.op, "name", None)
        if name in BY_SYMPY or name in restated:
            op = node.op if name in BY_SYMPY else node.op.replace(forward=restated[name])
            node = copy.copy(node)
            node.op = _differentiated(op)
        nodes.append(node)
    formulas = copy.copy(graph)
    formulas.nodes, formulas.plan = nodes, None
    return formulas


class Formulas:
    """Per node: the value's formula, its local gradients' and ∂f/∂node's (None where
    the node depends on no input); `gradients`: ∂f/∂input per input."""

    def __init__(self, graph, values, local, grads, notes):
        self.graph = graph
        self.values = values
        self.local = local
        self.grads = grads
        self.notes = notes  # the conventions that the formulas use

    @property
    def value(self):
        return self.values[self.graph.output]

    @property
    def gradients(self) -> dict:
        return {name: self.grads[i] for name, i in self.graph.inputs.items()}


def formulas(graph, ties: str = "split", simplify: bool = True) -> Formulas:
    """Formulas of every node of `graph` (lowered with gates expanded), in its inputs;
    `simplify=False` keeps them as the rules built them (quicker, for checking).

    Raises UsageError when SymPy is missing or the expression has vectors or matrices.
    """
    from .run import backward, forward

    require_sympy()
    refuse_arrays(graph, {})
    check_size(graph)
    symbols = {name: sympy.Symbol(name, real=True) for name in graph.inputs}
    xp = SymbolicArith(ties)
    graph = _for_formulas(graph)
    run = backward(graph, forward(graph, symbols, xp), xp, sympy.Integer(1))
    simple = _simplifier() if simplify else partial(sympy.sympify, strict=True)
    values = [simple(v) for v in run.values]
    local = [None if slopes is None else [None if s is None else simple(s) for s in slopes]
             for slopes in run.local]
    grads = [None if g is None else simple(g) for g in run.grads]
    notes = [TIE_NOTE] if any(getattr(n.op, "name", None) in BY_SYMPY for n in graph.nodes) \
        else []
    return Formulas(graph, values, local, grads, notes)


# A formula is a tree: a node used twice writes its formula twice in every formula above
# it (q = q*q + q, repeated k times, has about 2^k copies of x), and SymPy's operations
# walk those trees. So --symbolic takes graphs of up to MAX_NODES nodes whose formulas,
# written out, stay within MAX_FORMULA symbols, estimated from the graph before SymPy runs.
MAX_NODES, MAX_FORMULA = 500, 5_000
_CONSTANT_SLOPES = ("add", "sub", "neg")  # local gradients ±1: ∂f/∂arg is ∂f/∂node


def check_size(graph) -> None:
    """Raise LimitError, the caret under the node, where a formula would pass MAX_FORMULA
    symbols written out (a value's: 1 + its distinct arguments', as SymPy writes q*q as
    q**2; a gradient's: the sum over the node's consumers of theirs times a local gradient
    of about twice the consumer's size)."""
    nodes = graph.nodes
    if len(nodes) > MAX_NODES:
        raise LimitError(f"--symbolic writes formulas for up to {MAX_NODES} nodes, and this "
                         f"expression has {len(nodes):,} (gates expanded)",
                         hint="drop --symbolic: eval gives the numbers for any size")
    value = [0] * len(nodes)
    for node in nodes:
        value[node.id] = 1 + sum(value[i] for i in set(node.inputs))
        _within(graph, node, value[node.id], "value")
    grad = [0] * len(nodes)
    grad[graph.output] = 1
    for node in reversed(nodes):
        _within(graph, node, grad[node.id], "gradient")
        slope = 0 if getattr(node.op, "name", None) in _CONSTANT_SLOPES else 2 * value[node.id] + 4
        for i in set(node.inputs):
            part = grad[node.id] + (slope + 1 if slope else 0)
            grad[i] = part if grad[i] == 0 else grad[i] + part + 1


def _within(graph, node, size: int, what: str) -> None:
    if size > MAX_FORMULA:
        raise LimitError(f"--symbolic writes every formula out, and the {what} of "
                         f"{graph.label(node, 24)} would have more than {MAX_FORMULA:,} symbols",
                         graph.source, node.span,
                         hint="drop --symbolic: eval gives the numbers (a node used twice "
                              "writes its formula twice in every formula above it)")


def _simplifier():
    """simplify, once per distinct formula (a graph repeats its subformulas)."""
    seen = {}

    def simple(formula):
        if not isinstance(formula, sympy.Basic):
            return sympy.sympify(formula, strict=True)  # a plain number: never text
        if formula not in seen:
            seen[formula] = _simplest(formula)
        return seen[formula]
    return simple


# simplify's search costs more than linearly in a formula's size (a sum of 100 products
# took 19 s in all, its partial sums each simplified): past SIMPLIFY_OPS operations a
# formula only has its common factors pulled out, past REWRITE_OPS it is shown as built.
SIMPLIFY_OPS, REWRITE_OPS = 60, 400


def _simplest(formula):
    """The shortest (by SymPy's count_ops) of simplify's answer and of the formula and that
    answer with common factors pulled out, as people write a chain rule's product:
    x*(1 - tanh(w*x)**2), not simplify's -x*tanh(w*x)**2 + x."""
    size = sympy.count_ops(formula)
    if size > REWRITE_OPS:
        return formula
    if size > SIMPLIFY_OPS:
        return sympy.factor_terms(formula)
    simple = sympy.simplify(formula)
    candidates = [sympy.factor_terms(simple), sympy.factor_terms(formula), simple]
    return min(candidates, key=sympy.count_ops)  # the first of the shortest


def text(formula) -> str:
    """A formula as the table and the JSON document write it (SymPy's `str`)."""
    return "—" if formula is None else sympy.sstr(formula)


def json_part(result: Formulas) -> dict:
    """The document's "symbolic" object: the value's and each gradient's formula as text
    that SymPy's `sympify` reads back (sigmoid and softplus written out)."""
    return {"value": text(plain(result.value)),
            "gradients": {name: None if g is None else text(plain(g))
                          for name, g in result.gradients.items()},
            "notes": result.notes}


def node_formulas(result: Formulas) -> list[dict]:
    """Per node, in forward order: "formula" (its value), "local_formulas", "grad_formula"."""
    rows = []
    for node in result.graph.nodes:
        local = result.local[node.id]
        grad = result.grads[node.id]
        rows.append({"formula": text(plain(result.values[node.id])),
                     "local_formulas": [None if s is None else text(plain(s)) for s in local]
                     if local is not None else [None] * len(node.inputs),
                     "grad_formula": None if grad is None else text(plain(grad))})
    return rows


def document(result: Formulas, warnings) -> dict:
    """--symbolic --json with no bindings: the formulas only."""
    graph = result.graph
    nodes = [{"id": node.id, "label": graph.label(node), "op": node.op_name,
              "inputs": list(node.inputs), **row}
             for node, row in zip(graph.nodes, node_formulas(result))]
    return {"expression": graph.source, "symbolic": json_part(result), "nodes": nodes,
            "warnings": [{"node": n, "message": m} for n, m in warnings]}


def text_lines(result: Formulas, numbers=None, show=str) -> list[str]:
    """The formulas as the terminal shows them: a row per node (value, local gradients,
    ∂f/∂node), then f and ∂f/∂input, each `= number` beside it when `numbers` (a Result)
    is given."""
    graph = result.graph
    rows = [["node", "formula", "local gradients", "∂f/∂node"]]
    for node in graph.nodes:
        local = result.local[node.id]
        rows.append([graph.label(node, 24), text(result.values[node.id]),
                     "—" if local is None else ", ".join(map(text, local)),
                     text(result.grads[node.id])])
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = ["Formulas:"] + ["  " + "  ".join([*(c.ljust(w) for c, w in zip(row, widths)),
                                               row[3]]).rstrip() for row in rows]

    def beside(formula, number):
        return text(formula) if numbers is None else f"{text(formula)} = {show(number)}"

    lines.append("")
    lines.append("f = " + beside(result.value, numbers and numbers.value))
    for name, grad in result.gradients.items():
        lines.append(f"∂f/∂{name} = " + beside(grad, numbers and numbers.gradients[name]))
    lines += [f"note: {note}" for note in result.notes]
    return lines


def latex_text(formula) -> str:
    """A formula in SymPy's LaTeX (`sympy.latex`): \\sigma{\\left(b + w x \\right)},
    \\tanh, \\max\\left(w, z\\right), Heaviside as \\theta, Piecewise as cases."""
    return r"\text{---}" if formula is None else sympy.latex(formula)


def markdown_lines(result: Formulas, numbers=None, show=str) -> list[str]:
    """`--format markdown`: the formulas as a GitHub-flavoured Markdown table, then f and
    ∂f/∂input as a list, `= number` beside each when `numbers` (a Result) is given.

    Formulas are code spans of SymPy's text, as the terminal and the JSON write them:
    they render alike everywhere (`$...$` needs a renderer with math, and a formula's
    `*` and `|` would be Markdown), and paste back into SymPy's `sympify`.
    """
    from . import render

    graph = result.graph
    run = numbers.run if numbers is not None else None
    out = render.output_name(graph)

    def beside(formula, number=None) -> str:
        if formula is None:
            return "—"
        code = f"`{text(formula)}`"
        return code if run is None or formula.is_Integer else f"{code} = {show(number)}"

    lines = [f"| # | node | formula | local gradients | ∂{out}/∂node |",
             "|---:|---|---|---|---|"]
    for node in graph.nodes:
        local = result.local[node.id] or []
        slopes = (run.local[node.id] if run is not None else None) or [None] * len(local)
        cells = [str(node.id), graph.label(node, 24),
                 beside(result.values[node.id], run and run.values[node.id]),
                 "\n".join(f"∂/∂{render.symbol(graph, i)} = {beside(formula, slope)}"
                           for i, formula, slope in zip(node.inputs, local, slopes)
                           if formula is not None) or "—",
                 beside(result.grads[node.id], run and run.grads[node.id])]
        lines.append("| " + " | ".join(map(render._markdown_cell, cells)) + " |")
    lines.append("")
    lines.append(f"- {out} = " + beside(result.value, numbers and numbers.value))
    lines += [f"- ∂{out}/∂{name} = " + beside(grad, numbers and numbers.gradients[name])
              for name, grad in result.gradients.items()]
    lines += [f"\nNote: {note}." for note in result.notes]
    return lines


PICTURE_WIDTH = 36  # characters per line of a formula on a picture's node


def picture_text(formula) -> str:
    """A formula for a picture: SymPy's text with · for * and ^ for ** (`sympify` reads
    it with those two put back)."""
    return text(formula).replace("**", "^").replace("*", "·")


def picture_lines(formula) -> list[str]:
    """picture_text broken into lines of about PICTURE_WIDTH characters, only at spaces
    outside brackets (`sigmoid(b + w·x)` stays whole)."""
    pieces, depth, start = [], 0, 0
    written = picture_text(formula)
    for k, char in enumerate(written):
        depth += (char in "([") - (char in ")]")
        if char == " " and depth == 0:
            pieces.append(written[start:k])
            start = k + 1
    pieces.append(written[start:])
    lines = [pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) > PICTURE_WIDTH:
            lines.append(piece)
        else:
            lines[-1] += " " + piece
    return lines


def latex_factor(formula, first: bool = False) -> str:
    """A formula's LaTeX as a factor in the chain rule's product: a sum, or a negative
    past the first factor, in brackets (`z \\cdot \\left(x + y\\right)`)."""
    shown = latex_text(formula)
    bracketed = formula.is_Add or (not first and formula.could_extract_minus_sign())
    return rf"\left({shown}\right)" if bracketed else shown
