"""Stage 1, parse: source text → AST (gradcalc.syntax), with syntax errors a person can act on.

The grammar lives in grammar/gradcalc.lark. Lark turns it into an LALR(1) table once, when
the grammar changes (gradcalc.parse_table ships it as JSON beside the grammar), and the
loop below runs that table: it lexes with the grammar's terminals and calls a `_Builder`
method on each reduction, as Lark's LALR parser does with a transformer inside it. So the
AST is built without a parse tree, without recursion (20,000 nested parentheses are just a
deep stack), and start-up neither imports Lark nor builds its parser.
"""
from __future__ import annotations

import re
from functools import lru_cache

from . import collector
from .errors import GradcalcError, ParseError
from .syntax import (Array, Assign, Binary, Call, GateDef, Index, Keyword, Name, Number, Program,
                     Slice, Tuple, Unary)

_OPERATOR = {"**": "^"}
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
# `np.exp(x)`, `numpy.sum(S, axis=1)`: the module prefix of numpy's spelling names the
# function itself (gradcalc has no modules).
_NUMPY = ("np", "numpy")
_NUMPY_NAMES = {"newaxis": "None", "linalg": "np", "random": "np"}  # np.linalg.norm is norm
_SIZE_HINT = ("sizes are not values here: bind the size as an input (N=500) and write N "
              "where the assignment writes X.shape[0]")
_INDEX_ASSIGNMENT_HINT = (
    "an array cannot be changed in place; multiply by a mask instead: "
    "`margins[arange(N), y] = 0` is `margins = margins * (1 - one_hot(y, C))`, and "
    "`x[x < 0] = 0` is `x = x * (x >= 0)`")
_ATTRIBUTE_HINTS = {"shape": _SIZE_HINT, "size": _SIZE_HINT, "ndim": _SIZE_HINT}

# Operators as slides and PDFs print them, read as their ASCII meaning. One character for
# one, so that every span (and caret) stays where it was in the text as typed.
PASTED = str.maketrans({"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*",
                        "\u22c5": "*", "\u2217": "*", "\u00f7": "/"})
_SUPERSCRIPT_DIGITS = str.maketrans("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077"
                                    "\u2078\u2079\u207b", "0123456789-")


class _Builder:
    """Reduction callbacks: one small AST node per grammar rule; keeps no state.

    Tokens arrive as the `re.Match` objects of the lexer: `.group()` is the text and
    `.span()` its [start, end) in the source.
    """

    @staticmethod
    def number(tok):
        return Number(tok.group(), tok.span())

    @staticmethod
    def name(tok):
        return Name(tok.group(), tok.span())

    @staticmethod
    def call(func, _lpar, args, rpar):
        _keywords_last(args)
        return Call(func.group(), args, (func.start(), rpar.end()), func.span())

    @staticmethod
    def args(*exprs):
        return exprs

    @staticmethod
    def keyword(name, _equals, value):
        return Keyword(name.group(), value, (name.start(), value.span[1]), name.span())

    @staticmethod
    def method(target, _dot, name, _lpar, args, rpar):
        """`S.sum(axis=1)` is sum(S, axis=1); `np.exp(x)` is exp(x)."""
        _keywords_last(args)
        span = (target.span[0], rpar.end())
        if isinstance(target, Name) and target.id in _NUMPY:
            return Call(name.group(), args, span, (target.span[0], name.end()))
        return Call(name.group(), (target, *args), span, name.span())

    @staticmethod
    def attribute(target, _dot, name):
        attribute = name.group()
        if attribute == "T":  # numpy's transpose
            return Call("transpose", (target,), (target.span[0], name.end()), name.span())
        if isinstance(target, Name) and target.id in _NUMPY:
            # np.newaxis is None (a new axis in an index); np.pi is pi
            return Name(_NUMPY_NAMES.get(attribute, attribute), (target.span[0], name.end()))
        raise ParseError(f"unknown attribute '.{attribute}'", span=name.span(),
                         hint=_ATTRIBUTE_HINTS.get(attribute, "the attribute gradcalc knows "
                                                   "is .T (the transpose)"))

    @staticmethod
    def tuple(lpar, items, rpar):
        return Tuple(items, (lpar.start(), rpar.end()))

    @staticmethod
    def tuple_items(*items):
        return items

    @staticmethod
    def subscripts(*items):
        return items

    @staticmethod
    def slice(*children):
        """`a:b:c` with any part left out: the colons (tokens) separate the parts."""
        parts: list = [None]
        for child in children:
            if isinstance(child, re.Match):
                parts.append(None)
            else:
                parts[-1] = child
        parts += [None] * (3 - len(parts))
        first = children[0]
        last = children[-1]
        span = (first.start() if isinstance(first, re.Match) else first.span[0],
                last.end() if isinstance(last, re.Match) else last.span[1])
        return Slice(*parts, span)

    @staticmethod
    def group(lpar, expr, rpar):
        # The node's span takes in its parentheses: `(x+y)` is the operand of `(x+y)*z`.
        return expr.with_span((lpar.start(), rpar.end()))

    @staticmethod
    def array(lsqb, items, rsqb):
        for item in items:
            if isinstance(item, Keyword):
                raise ParseError(f"'{item.name}=' inside a list", span=item.span,
                                 hint="a keyword goes in a function call: sum(S, axis=1)")
        if not items:
            raise ParseError("an empty list has no shape", span=(lsqb.start(), rsqb.end()),
                             hint="write at least one element, e.g. [0]")
        return Array(items, (lsqb.start(), rsqb.end()))

    @staticmethod
    def index(target, lsqb, indices, rsqb):
        if not indices:
            raise ParseError("an index is missing", span=(lsqb.start(), rsqb.end()),
                             hint="write v[0] or M[1, 0]")
        return Index(target, indices, (target.span[0], rsqb.end()))

    @staticmethod
    def binary(left, op, right):
        op = op.group()
        if op in COMPARISONS and isinstance(left, Binary) and left.op in COMPARISONS \
                and left.span[0] == left.left.span[0]:  # not parenthesised: a chain
            raise ParseError("a comparison chain: a < b < c is two comparisons",
                             span=(left.span[0], right.span[1]),
                             hint="write each comparison and multiply the masks: "
                                  "(a < b) * (b < c)")
        return Binary(_OPERATOR.get(op, op), left, right, (left.span[0], right.span[1]))

    @staticmethod
    def superscript(base, power):
        """x² is x^2 and x⁻¹ is x^-1: the exponent keeps the superscript's span."""
        digits = power.group().translate(_SUPERSCRIPT_DIGITS)
        start, end = power.span()
        exponent = Number(digits.lstrip("-"), (start + (digits[0] == "-"), end))
        if digits[0] == "-":
            exponent = Unary("-", exponent, (start, end))
        return Binary("^", base, exponent, (base.span[0], end))

    @staticmethod
    def unary(op, operand):
        return Unary(op.group(), operand, (op.start(), operand.span[1]))

    @staticmethod
    def stmt(target, equals=None, value=None):
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
            hint=_INDEX_ASSIGNMENT_HINT if isinstance(target, Index) else
            "to compare values use `gradcalc check --expect`; '=' only names things")

    @staticmethod
    def program(*statements):
        return tuple(s for s in statements if s is not None)


def _keywords_last(args) -> None:
    """Keyword arguments come after the positional ones, as in Python."""
    seen = set()
    for k, arg in enumerate(args):
        if isinstance(arg, Keyword):
            if arg.name in seen:
                raise ParseError(f"the keyword '{arg.name}' is given twice", span=arg.span,
                                 hint="give each keyword once")
            seen.add(arg.name)
        elif seen:
            raise ParseError("a positional argument after a keyword argument",
                             span=arg.span, hint="put the keywords last: sum(S, axis=1)")


# How a reduction builds its value: pass the only child on, call the builder with the
# children, or filter and splice them first; and, per child, the codes of the table
# (gradcalc.parse_table): keep it, or splice in the children of an inlined rule.
_PASS, _CALL, _BUILD = 0, 1, 2
_KEEP, _SPLICE = 1, 2
_END = "$END"


class _Table:
    """The LALR table made ready to run: the compiled lexer, per-state actions, reductions."""

    def __init__(self, data: dict, builder):
        self.terminals = data["terminals"]
        self.scanner = _scanner(self.terminals)
        self.ignore = frozenset(data["ignore"])
        self.actions = [actions for actions, _ in data["states"]]
        self.gotos = [gotos for _, gotos in data["states"]]
        self.start = data["start"]
        self.end = data["end"]
        self.reductions = [_reduction(rule, builder) for rule in data["rules"]]
        self._state_scanners = {}

    def relex(self, source: str, pos: int, state: int):
        """The token Lark's contextual lexer finds at `pos` in `state`: the first of the
        terminals acceptable there (or ignored) that matches. Needed only where the
        first terminal of all that matches is not acceptable in `state`."""
        if state not in self._state_scanners:
            accepts = self.actions[state]
            allowed = [(name, regex) for name, regex in self.terminals
                       if name in accepts or name in self.ignore]
            self._state_scanners[state] = _scanner(allowed) if allowed else None
        scanner = self._state_scanners[state]
        return scanner.match(source, pos) if scanner is not None else None

    def expected(self, state: int, *, with_end: bool) -> set[str]:
        return {name for name in self.actions[state] if with_end or name != _END}


def _scanner(terminals):
    return re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in terminals))


def _reduction(rule, builder):
    origin, children, callback, expand_single = rule
    size = len(children)
    if callback is None:  # an inlined `_rule`: its children go to the parent, as a list
        return size, origin, _BUILD, _shaper(children, None, False)
    if expand_single and children == [_KEEP]:  # `?rule: child`
        return size, origin, _PASS, None
    method = getattr(builder, callback, None)
    if method is None:
        raise LookupError(f"the parser's builder has no method for rule {callback!r}")
    if all(child == _KEEP for child in children):
        return size, origin, _CALL, method
    return size, origin, _BUILD, _shaper(children, lambda kept: method(*kept), expand_single)


def _shaper(children, make, expand_single):
    """Drop filtered tokens, splice inlined rules' children, then make the value (`make`
    None: the list itself, for an inlined rule).

    A repetition (`expr ("," expr)*`, a program's statements) is a left-recursive inlined
    rule, `_star: _star "," expr`: its list is extended in place, not copied at every
    element, so that a list of n elements is built in O(n), not O(n²). That is safe
    because an inlined rule's list is spliced into its parent once and held nowhere else.
    """
    grows = children[:1] == [_SPLICE]
    rest = children[1:] if grows else children

    def shape(values):
        kept = values[0] if grows else []
        for value, how in zip(values[1:] if grows else values, rest):
            if how == _KEEP:
                kept.append(value)
            elif how == _SPLICE:
                kept.extend(value)
        if expand_single and len(kept) == 1:
            return kept[0]
        return kept if make is None else make(kept)
    return shape


@lru_cache(maxsize=1)
def _table() -> _Table:
    from . import parse_table  # late: `python -m gradcalc.parse_table` must load it fresh

    return _Table(parse_table.load(), _Builder)


class _Token:
    """A token named in a syntax error."""

    __slots__ = ("type", "text", "start", "end")

    def __init__(self, type_: str, text: str, start: int, end: int):
        self.type, self.text, self.start, self.end = type_, text, start, end

    @classmethod
    def of(cls, match) -> _Token:
        return cls(match.lastgroup, match.group(), match.start(), match.end())

    def __str__(self) -> str:
        return self.text


class _UnexpectedCharacter(Exception):
    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


class _UnexpectedToken(Exception):
    def __init__(self, token: _Token, expected: set[str]):
        super().__init__(token.type)
        self.token = token
        self.expected = expected


def _statements(source: str, table: _Table):
    """Run the LALR table over `source`; return the builder's value for the program."""
    actions, gotos, reductions = table.actions, table.gotos, table.reductions
    ignore = table.ignore
    state = table.start
    states = [state]  # the parser's stack; `state` is always its top
    values: list = []
    pos = 0
    match = None
    resume = True
    while resume:  # the scan restarts only after a contextual re-lex (see _Table.relex)
        resume = False
        for match in table.scanner.finditer(source, pos):
            if match.start() != pos:
                raise _UnexpectedCharacter(pos)
            pos = match.end()
            kind = match.lastgroup
            if kind in ignore:
                continue
            action = actions[state].get(kind)
            if action is None:
                relexed = table.relex(source, match.start(), state)
                if relexed is None:
                    raise _UnexpectedToken(_Token.of(match), table.expected(state, with_end=False))
                match, kind, pos, resume = relexed, relexed.lastgroup, relexed.end(), True
                if kind in ignore:
                    break
                action = actions[state][kind]
            while action < 0:
                state = _reduce(reductions[~action], states, values, gotos)
                action = actions[state].get(kind)
                if action is None:
                    raise _UnexpectedToken(_Token.of(match), table.expected(state, with_end=True))
            state = action
            states.append(state)
            values.append(match)
            if resume:
                break
    if pos != len(source):
        raise _UnexpectedCharacter(pos)
    end_token = _Token(_END, "", *(match.span() if match is not None else (0, 0)))
    while True:
        action = actions[state].get(_END)
        if action is None or action >= 0:
            raise _UnexpectedToken(end_token, table.expected(state, with_end=True))
        state = _reduce(reductions[~action], states, values, gotos)
        if state == table.end:
            return values[-1]


def _reduce(reduction, states: list, values: list, gotos) -> int:
    """Apply one reduction to the stacks; return the new top state."""
    size, origin, how, build = reduction
    if how == _PASS:  # `?rule: child`: the value stays, only the state changes
        state = states[-1] = gotos[states[-2]][origin]
        return state
    if size:
        children = values[-size:]
        del values[-size:]
        del states[-size:]
    else:
        children = []
    values.append(build(*children) if how == _CALL else build(children))
    state = gotos[states[-1]][origin]
    states.append(state)
    return state


@collector.paused
def parse(source: str) -> Program:
    """Parse a whole program; raise ParseError with a caret and a hint on bad input.

    Operators pasted from slides (−, ×, ·, ÷, ...) read as their ASCII meaning (PASTED);
    the AST's spans and every error's caret refer to `source` as given."""
    text = source.translate(PASTED)
    try:
        statements = _statements(text, _table())
    except (_UnexpectedCharacter, _UnexpectedToken) as exc:
        error = _character_error(text, exc.pos) if isinstance(exc, _UnexpectedCharacter) \
            else _token_error(text, exc.token, exc.expected)
        error.source = source
        raise error from None
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
    "LSQB": "'['", "RSQB": "']'", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '@'",
    "POW_OP": "'^'", "EQUALS": "'='", "CMP_OP": "a comparison", "COLON": "':'",
    "DOT": "'.'",
    "SUPERSCRIPT": "a superscript power",
    "COMMA": "','", "_SEP": "';' or a new line", _END: "the end of the input",
}


def _describe(token_type: str, text: str = "") -> str:
    if token_type in ("NAME", "NUMBER") and text:
        return f"{_TOKEN_NAMES[token_type][2:]} '{text}'"
    return _TOKEN_NAMES.get(token_type, repr(text or token_type))


def _expected(names) -> str:
    wanted = sorted({_TOKEN_NAMES.get(n, n) for n in names})
    return ", ".join(wanted[:-1]) + (" or " if len(wanted) > 1 else "") + wanted[-1] if wanted else ""


def _character_error(source: str, pos: int) -> ParseError:
    from . import hints

    return hints.character(source, pos)


def _token_error(source: str, token: _Token, expected: set[str]) -> ParseError:
    if token.type == _END:
        opener = _unclosed_paren(source)
        if opener is not None:
            return ParseError("missing ')'", source, (opener, opener + 1),
                              "close the parenthesis opened here")
        end = len(source.rstrip())
        return ParseError("the expression ends too early", source, (max(end - 1, 0), end),
                          f"expected {_expected(expected)} after it")
    span = (token.start, token.end)
    before = _previous_token(source, token.start)
    if before is not None and before.type in ("NUMBER", "NAME", "RPAR") \
            and token.type in ("NAME", "NUMBER", "LPAR"):
        glued = source[before.start:token.end]
        if before.type == "NAME" and token.type == "LPAR":
            pass  # a call, so the trouble is elsewhere
        else:
            from . import hints

            notation = hints.missing_operator(source, before, token)
            if notation is not None:
                return notation
            suggestion = f"{before}*(...)" if token.type == "LPAR" else f"{before}*{token}"
            return ParseError(f"missing operator between '{before}' and '{token}'",
                              source, (before.start, token.end),
                              f"did you mean {suggestion}? (there is no implicit "
                              f"multiplication in '{glued}')")
    if token.type == "COMMA" and before is not None:
        from . import hints

        comma = hints.decimal_comma(source, before, token)
        if comma is not None:
            return comma
    if token.type == "RPAR":
        return ParseError("unmatched ')'", source, span, "remove it or add a '(' before")
    if token.type == "EQUALS" and before is not None and before.end == token.start \
            and str(before) in ("+", "-", "*", "/"):
        target = _assigned_name(source, before.start)
        return ParseError(f"'{before}=' is not an operator here", source,
                          (before.start, token.end),
                          f"write {target} = {target} {before} ... (a name may be given a "
                          "new value)")
    if token.type == "_SEP" and before is not None and before.type == "LPAR":
        return ParseError("missing ')'", source, (before.start, before.end),
                          "close the parenthesis before the end of the statement")
    return ParseError(f"unexpected {_describe(token.type, str(token))}", source, span,
                      f"expected {_expected(expected)}")


def _assigned_name(source: str, pos: int) -> str:
    """The name before `+=` at `pos` (`loss` in `loss += 1`), else `x`."""
    match = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*$", source[:pos])
    return match.group(1) if match else "x"


def _previous_token(source: str, pos: int) -> _Token | None:
    """The token just before `pos`, found by lexing the text up to it (error path only)."""
    table = _table()
    last = None
    end = 0
    for match in table.scanner.finditer(source, 0, pos):
        if match.start() != end:
            return None
        end = match.end()
        if match.lastgroup not in table.ignore:
            last = match
    if end != pos:
        return None
    return None if last is None else _Token.of(last)


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
