"""Stage 1, parse: source text → AST (gradcalc.syntax), with syntax errors a person can act on.

The grammar lives in grammar/gradcalc.lark. Lark's LALR parser runs the `_Builder`
callbacks as it reduces, so the AST is built without a parse tree and without recursion:
20,000 nested parentheses are just a deep parser stack.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .errors import GradcalcError, ParseError
from .syntax import Array, Assign, Binary, Call, GateDef, Index, Name, Number, Program, Unary

_OPERATOR = {"**": "^"}


@v_args(inline=True)
class _Builder(Transformer):
    """Parse-time callbacks: one small AST node per grammar rule; keeps no state."""

    def number(self, tok):
        return Number(str(tok), (tok.start_pos, tok.end_pos))

    def name(self, tok):
        return Name(str(tok), (tok.start_pos, tok.end_pos))

    def call(self, func, _lpar, args, rpar):
        return Call(str(func), args, (func.start_pos, rpar.end_pos),
                    (func.start_pos, func.end_pos))

    def args(self, *exprs):
        return exprs

    def group(self, lpar, expr, rpar):
        # The node's span takes in its parentheses: `(x+y)` is the operand of `(x+y)*z`.
        return replace(expr, span=(lpar.start_pos, rpar.end_pos))

    def array(self, lsqb, items, rsqb):
        if not items:
            raise ParseError("an empty list has no shape", span=(lsqb.start_pos, rsqb.end_pos),
                             hint="write at least one element, e.g. [0]")
        return Array(items, (lsqb.start_pos, rsqb.end_pos))

    def index(self, target, lsqb, indices, rsqb):
        if not indices:
            raise ParseError("an index is missing", span=(lsqb.start_pos, rsqb.end_pos),
                             hint="write v[0] or M[1, 0]")
        return Index(target, indices, (target.span[0], rsqb.end_pos))

    def binary(self, left, op, right):
        return Binary(_OPERATOR.get(str(op), str(op)), left, right,
                      (left.span[0], right.span[1]))

    def unary(self, op, operand):
        return Unary(str(op), operand, (op.start_pos, operand.span[1]))

    def stmt(self, target, equals=None, value=None):
        if equals is None:
            return target
        span = (target.span[0], value.span[1])
        if isinstance(target, Name):
            return Assign(target.id, value, span, target.span)
        if isinstance(target, Call) and all(isinstance(a, Name) for a in target.args):
            return GateDef(target.func, target.args, value, span, target.func_span)
        raise ParseError(
            "the left side of '=' must be a name (`q = x + y`) or a gate "
            "header (`sig(t) = 1/(1+exp(-t))`)", span=target.span,
            hint="to compare values use `gradcalc check --expect`; '=' only names things")

    def program(self, *statements):
        return tuple(s for s in statements if s is not None)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark.open_from_package(
        "gradcalc.grammar", "gradcalc.lark", start="program",
        parser="lalr", transformer=_Builder(), maybe_placeholders=False)


def parse(source: str) -> Program:
    """Parse a whole program; raise ParseError with a caret and a hint on bad input."""
    try:
        statements = _parser().parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(source, exc) from None
    except GradcalcError as exc:
        exc.source = source
        raise
    if not statements:
        raise ParseError("the expression is empty", source, (0, len(source)),
                         hint='write an expression, e.g. gradcalc eval "x*y" x=2 y=3')
    return Program(statements, source)


def parse_expression(source: str) -> Program:
    """Parse text that must be a single expression (a binding's value, say)."""
    program = parse(source)
    if len(program.statements) != 1 or isinstance(program.statements[0], (Assign, GateDef)):
        raise ParseError("expected a single expression", source, (0, len(source)))
    return program


_TOKEN_NAMES = {
    "NUMBER": "a number", "NAME": "a name", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '@'", "POW_OP": "'^'", "EQUALS": "'='",
    "COMMA": "','", "_SEP": "';' or a new line", "$END": "the end of the input",
}


def _describe(token_type: str, text: str = "") -> str:
    if token_type in ("NAME", "NUMBER") and text:
        return f"{_TOKEN_NAMES[token_type][2:]} '{text}'"
    return _TOKEN_NAMES.get(token_type, repr(text or token_type))


def _expected(names) -> str:
    wanted = sorted({_TOKEN_NAMES.get(n, n) for n in names})
    return ", ".join(wanted[:-1]) + (" or " if len(wanted) > 1 else "") + wanted[-1] if wanted else ""


def _syntax_error(source: str, exc: UnexpectedInput) -> ParseError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(source)
    if isinstance(exc, UnexpectedCharacters):
        char = source[pos]
        hint = None
        if char == "!":
            hint = "there is no factorial; write the product out"
        return ParseError(f"unexpected character {char!r}", source, (pos, pos + 1), hint)
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    if token.type == "$END":
        opener = _unclosed_paren(source)
        if opener is not None:
            return ParseError("missing ')'", source, (opener, opener + 1),
                              "close the parenthesis opened here")
        end = len(source.rstrip())
        return ParseError("the expression ends too early", source, (max(end - 1, 0), end),
                          f"expected {_expected(exc.expected)} after it")
    span = (token.start_pos, token.end_pos)
    before = _previous_token(source, token.start_pos)
    if before is not None and before.type in ("NUMBER", "NAME", "RPAR") \
            and token.type in ("NAME", "NUMBER", "LPAR"):
        glued = source[before.start_pos:token.end_pos]
        if before.type == "NAME" and token.type == "LPAR":
            pass  # a call, so the trouble is elsewhere
        else:
            suggestion = f"{before}*(...)" if token.type == "LPAR" else f"{before}*{token}"
            return ParseError(f"missing operator between '{before}' and '{token}'",
                              source, (before.start_pos, token.end_pos),
                              f"did you mean {suggestion}? (there is no implicit "
                              f"multiplication in '{glued}')")
    if token.type == "RPAR":
        return ParseError("unmatched ')'", source, span, "remove it or add a '(' before")
    if token.type == "_SEP" and before is not None and before.type == "LPAR":
        return ParseError("missing ')'", source, (before.start_pos, before.end_pos),
                          "close the parenthesis before the end of the statement")
    return ParseError(f"unexpected {_describe(token.type, str(token))}", source, span,
                      f"expected {_expected(exc.expected)}")


def _previous_token(source: str, pos: int):
    """The token just before `pos`, found by lexing the text up to it (error path only)."""
    last = None
    try:
        for tok in _parser().lex(source[:pos]):
            last = tok
    except UnexpectedInput:
        return None
    return last


def _unclosed_paren(source: str) -> int | None:
    """Position of the innermost '(' that the text never closes, ignoring comments."""
    stack = []
    in_comment = False
    for i, char in enumerate(source):
        if in_comment:
            in_comment = char != "\n"
        elif char == "#":
            in_comment = True
        elif char == "(":
            stack.append(i)
        elif char == ")" and stack:
            stack.pop()
    return stack[-1] if stack else None
