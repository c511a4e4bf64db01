"""Hints for the ways people write formulas on paper and in slides, so that each bad input
gets a fix that works or a plain word on why there is none.

A hint that suggests a fix puts it first in backquotes, and the fix replaces exactly the
text under the error's caret (the error's span): `sin^2(x)` under the caret, `sin(x)^2` in
the hint. tests/test_hints.py applies each kind of fix and runs the result. A hint with no
fix says why there is none (an inverse function, an ambiguous `1/2x`); a backquoted
command there (`gradcalc functions`) is one to run, not a fix. Used on the error path
only (parse.py and lower.py call in here), so none of it costs a good run.
"""
from __future__ import annotations

import re

from .errors import ParseError

_NAME = r"[^\W\d]\w*"
# `sin^2(` and `sin^-1(`: a power written on the function, as slides do
_FUNCTION_POWER = re.compile(rf"({_NAME})\s*(?:\^|\*\*)\s*(-?)\s*$")
# `w^T` just before the token: a transpose as a superscript
_TRANSPOSE = re.compile(rf"({_NAME})\s*(?:\^|\*\*)\s*$")

# Names people reach for that gradcalc spells otherwise: the same function, another name.
SAME_AS = {"sgn": "sign", "signum": "sign", "logistic": "sigmoid", "sig": "sigmoid",
           "lg": "log10", "ReLU": "relu", "Relu": "relu", "Sigmoid": "sigmoid",
           "log_10": "log10", "log_2": "log2", "ld": "log2", "tg": "tan"}
# Functions gradcalc lacks, written out with the ones it has ({a} is the argument).
# {a} is the argument's text, {p} the same in parentheses unless it is a name or a number.
WRITTEN_OUT = {
    "sinh": "(exp({a}) - exp(-{p}))/2", "cosh": "(exp({a}) + exp(-{p}))/2",
    "log1p": "log(1 + {a})", "expm1": "exp({a}) - 1", "exp2": "2^{p}",
    "square": "{p}^2", "sqr": "{p}^2", "cube": "{p}^3",
}
# numpy's functions and methods gradcalc spells otherwise, by arity: {aK} is argument K's
# text, {pK} the same in parentheses unless it is a name or a number.
NUMPY_WRITTEN = {
    ("multiply", 2): "{p0} * {p1}", ("add", 2): "{p0} + {p1}",
    ("subtract", 2): "{p0} - {p1}", ("divide", 2): "{p0} / {p1}",
    ("true_divide", 2): "{p0} / {p1}", ("power", 2): "{p0} ** {p1}",
    ("negative", 1): "-{p0}", ("flatten", 1): "reshape({a0}, -1)",
    ("ravel", 1): "reshape({a0}, -1)", ("copy", 1): "{a0}", ("float", 1): "{a0}",
    ("astype", 2): "{a0}", ("zeros_like", 1): "0 * {p0}", ("ones_like", 1): "0 * {p0} + 1",
    ("clip", 3): "minimum(maximum({a0}, {a1}), {a2})",
    ("hstack", 1): "concatenate({a0}, axis=1)", ("vstack", 1): "concatenate({a0}, axis=0)",
}
NUMPY_NOTES = {
    "astype": " (a comparison is already 1.0/0.0 numbers)",
    "hstack": " for matrices (for vectors, axis=0)",
    "vstack": " for matrices (for vectors, stack({a0}, axis=0))",
}
INVERSES = {"asin", "acos", "atan", "arcsin", "arccos", "arctan", "asinh", "acosh", "atanh",
            "arsinh", "arcosh", "artanh", "arctanh", "arcsinh", "arccosh", "cot", "sec", "csc"}


def character(source: str, pos: int) -> ParseError:
    """An unexpected character: what it may have meant on paper, and what to type."""
    char = source[pos]
    if char == "|":
        close = source.find("|", pos + 1)
        if close != -1 and "\n" not in source[pos:close] and source[pos + 1:close].strip():
            inner = source[pos + 1:close].strip()
            return ParseError("'|' is not an operator in gradcalc", source, (pos, close + 1),
                              f"for the absolute value write `abs({inner})`; "
                              f"for a vector's length, norm({inner})")
        return ParseError("'|' is not an operator in gradcalc", source, (pos, pos + 1),
                          "for an absolute value write abs(...); for a vector's length, "
                          "norm(...)")
    if char == "\u221a":  # √
        end = _operand_end(source, pos + 1)
        if end is not None:
            operand = source[pos + 1:end].strip()
            operand = operand[1:-1] if operand.startswith("(") else operand
            return ParseError("'√' is not an operator in gradcalc", source, (pos, end),
                              f"write `sqrt({operand})`")
        return ParseError("'√' is not an operator in gradcalc", source, (pos, pos + 1),
                          "write sqrt(...) with the argument in parentheses")
    if char == "!":
        return ParseError("unexpected character '!'", source, (pos, pos + 1),
                          "there is no factorial; write the product out")
    if char == "'":
        return ParseError("unexpected character \"'\"", source, (pos, pos + 1),
                          "there is no derivative notation: write the function itself "
                          "(tanh(x)) and gradcalc gives its gradient")
    if char in "{}":
        return ParseError(f"unexpected character {char!r}", source, (pos, pos + 1),
                          "group with ( ), call with max(x, y), and write vectors with [ ]")
    if char == ":":
        return ParseError("unexpected character ':'", source, (pos, pos + 1),
                          "to name a value write '=' (q = x + y); a binding after the "
                          "expression is NAME=VALUE (x=2)")
    return ParseError(f"unexpected character {char!r}{_unicode_name(char)}", source,
                      (pos, pos + 1), "gradcalc reads names, numbers and + - * / ^ @ "
                                      "( ) [ ] , = ; (see `gradcalc eval --help`)")


def _unicode_name(char: str) -> str:
    if char.isascii():
        return ""
    import unicodedata

    name = unicodedata.name(char, "")
    return f" ({name.lower()})" if name else ""


def _operand_end(source: str, start: int) -> int | None:
    """The end of the name, number or parenthesized group at `start` (after spaces)."""
    match = re.compile(rf"\s*(?:{_NAME}|\d+\.?\d*|\.\d+)").match(source, start)
    if match:
        return match.end()
    lead = len(source[start:]) - len(source[start:].lstrip(" "))
    if source[start + lead:start + lead + 1] == "(":
        close = closing_paren(source, start + lead)
        return None if close is None else close + 1
    return None


def closing_paren(source: str, opener: int) -> int | None:
    """The position of the ')' that closes the '(' at `opener`, or None."""
    depth = 0
    for i in range(opener, len(source)):
        char = source[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        elif char in "\n;#":
            return None
    return None


def missing_operator(source: str, before, token) -> ParseError | None:
    """Two operands side by side (`exp x`, `sin^2(x)`, `w^T x`, `0,5`) where the slide's
    notation meant something other than a product; None when a product is the fix."""
    from . import ops  # the error path only

    head = source[:before.start]
    if before.type == "NUMBER" and token.type == "LPAR":
        power = _FUNCTION_POWER.search(head)
        if power and power.group(1) in ops.FUNCTIONS:
            return _function_power(source, power, before, token)
    if before.type == "NUMBER" and token.type == "NAME" and head.rstrip().endswith("/"):
        return ParseError(f"missing operator between '{before.text}' and '{token.text}'",
                          source, (before.start, token.end),
                          f"for one over {before.text}{token.text} write "
                          f"1/({before.text}*{token.text}); for {token.text} divided by "
                          f"{before.text} write {token.text}/{before.text}")
    if before.type == "NAME" and before.text in ops.FUNCTIONS and token.type in ("NAME", "NUMBER"):
        return ParseError(f"{before.text} is a function: its argument goes in parentheses",
                          source, (before.start, token.end),
                          f"write `{before.text}({token.text})`")
    if before.type == "NAME" and before.text == "T" and token.type in ("NAME", "NUMBER"):
        transposed = _TRANSPOSE.search(head)
        if transposed:
            name = transposed.group(1)
            return ParseError(f"{name}^T is a transpose written as a superscript", source,
                              (transposed.start(1), token.end),
                              f"write `transpose({name}) @ {token.text}` (@ is the matrix "
                              "product)")
    return None


def _function_power(source: str, power, before, lpar) -> ParseError:
    name, inverse, exponent = power.group(1), power.group(2), before.text
    close = closing_paren(source, lpar.start)
    span = (power.start(1), lpar.end if close is None else close + 1)
    call = f"{name}(...)" if close is None else f"{name}({source[lpar.start + 1:close]})"
    fix = f"{call}^-{exponent}" if inverse else f"{call}^{exponent}"
    fix = fix if close is None else f"`{fix}`"  # a fix to apply only when it is whole
    if inverse:
        return ParseError(f"{name}^-{exponent}(...) is an inverse function, which gradcalc "
                          "does not have", source, span, f"if you meant 1/{name}(...), "
                                                         f"write {fix}")
    return ParseError(f"{name}^{exponent}(...) puts the power on the function's name",
                      source, span, f"write {fix}: the power of the value goes after the call")


def decimal_comma(source: str, before, token) -> ParseError | None:
    """`0,5`: a decimal comma, as many countries write it."""
    digits = re.compile(r"\d+").match(source, token.end)
    if before.type != "NUMBER" or digits is None or not before.text.isdigit():
        return None
    number = f"{before.text}.{digits.group()}"
    return ParseError("',' is not a decimal point in gradcalc", source,
                      (before.start, digits.end()),
                      f"write `{number}` with a point; a comma separates the arguments "
                      "of a call")


def unknown_function(name: str, arguments: list[str], known) -> tuple[str, bool]:
    """The hint for a call of an unknown function, and whether its fix replaces the whole
    call (True) or the name only: the same function under its name here, the function
    written out, or a typo's likely fix; never a function of another meaning."""
    if name in SAME_AS or name.lower() in known:
        return f"did you mean `{SAME_AS.get(name, name.lower())}`?", False
    if name in WRITTEN_OUT and len(arguments) == 1:
        a = arguments[0]
        p = a if re.fullmatch(rf"{_NAME}|\d+\.?\d*", a) else f"({a})"
        return f"gradcalc has no {name}; write `{WRITTEN_OUT[name].format(a=a, p=p)}`", True
    if (name, len(arguments)) in NUMPY_WRITTEN:
        texts = {f"a{k}": a for k, a in enumerate(arguments)}
        texts.update({f"p{k}": a if re.fullmatch(rf"{_NAME}|\d+\.?\d*", a) else f"({a})"
                      for k, a in enumerate(arguments)})
        written = NUMPY_WRITTEN[name, len(arguments)].format(**texts)
        note = NUMPY_NOTES.get(name, "").format(**texts)
        return f"gradcalc has no {name}; write `{written}`{note}", True
    if name in ("var", "std") and arguments:
        return f"gradcalc has no {name}; write `{_moment(name, arguments)}`", True
    if name in INVERSES or name.startswith(("arc", "inv")):
        return f"gradcalc has no {name}: it has no inverse trigonometric functions", False
    close = _typo_of(name, known)
    if close:
        return f"did you mean `{close}`?", False
    return f"define it as a gate first ({name}(t) = ...), or see `gradcalc functions`", False


def _moment(name: str, arguments: list[str]) -> str:
    """numpy's var or std (ddof=0, as batchnorm uses it) written with mean: the keywords
    as given go to the outer mean; the inner mean keeps its dims to broadcast."""
    a, keywords = arguments[0], arguments[1:]
    a = a if re.fullmatch(rf"{_NAME}|\d+\.?\d*", a) else f"({a})"
    axis = [k for k in keywords if k.replace(" ", "").startswith("axis=")]
    inner = ", ".join([a, *axis, "keepdims=True"])
    variance = f"mean(({a} - mean({inner}))^2{''.join(', ' + k for k in keywords)})"
    return variance if name == "var" else f"sqrt({variance})"


def _typo_of(name: str, known) -> str | None:
    """A known name that `name` is a typo of (one letter wrong, missing, extra or swapped),
    and not another function that merely shares its start (sinh is not sin, log1p not log)
    or differs in a digit (sig2 is not sign)."""
    import difflib

    for close in difflib.get_close_matches(name, sorted(known), n=3):
        if close.startswith(name) or name.startswith(close) or abs(len(close) - len(name)) > 1:
            continue
        if re.sub(r"\D", "", close) != re.sub(r"\D", "", name):  # log2 is not log10
            continue
        if _edits(name, close) <= 1:
            return close
    return None


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of two neighbours is one edit)."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def arity(name: str, arguments: list[str]) -> str | None:
    """A hint for a built-in called with the wrong number of arguments, when the call
    has a common meaning: log(x, b) is the logarithm to base b."""
    if name in ("log", "ln") and len(arguments) == 2:
        x, b = arguments
        return f"log is the natural logarithm; to base {b} write `log({x})/log({b})` " \
               "(log2 and log10 exist)"
    return None


def transpose_name(source: str, name_span) -> tuple | None:
    """`w^T` whose T is unbound: (span of `w^T`, w), else None."""
    match = _TRANSPOSE.search(source[:name_span[0]])
    if match is None:
        return None
    return (match.start(1), name_span[1]), match.group(1)


def constant_assignments(program) -> tuple[list[str], list[str]]:
    """Split a program into its other statements' texts and `name=value` bindings for its
    assignments of a number (`x = -2`), each name assigned once: what to type instead
    for the lecture's code pasted as it is (`x = -2; y = 5; q = x + y`)."""
    from .syntax import Assign, Number, Unary

    source = program.source
    assigned = [s.name for s in program.statements if isinstance(s, Assign)]
    rest, bindings = [], []
    for statement in program.statements:
        value = getattr(statement, "value", None)
        literal = isinstance(value, Number) or isinstance(value, Unary) and \
            isinstance(value.operand, Number)
        if isinstance(statement, Assign) and literal and assigned.count(statement.name) == 1:
            text = "".join(source[value.span[0]:value.span[1]].split())
            bindings.append(f"{statement.name}={text}")
        else:
            rest.append(source[statement.span[0]:statement.span[1]])
    return rest, bindings
