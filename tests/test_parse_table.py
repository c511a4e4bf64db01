"""The shipped LALR table and the loop that runs it, against Lark itself.

gradcalc parses with a table that Lark computed from grammar/gradcalc.lark (see
gradcalc.parse_table). These tests hold it to Lark's own parser on the same grammar:
the same AST for every input, and the same error (kind, place, expected terminals)
for every bad one; and they check that a stale or damaged table is never used.
"""
import json
import os
import re
import shutil

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from gradcalc import parse as gc_parse
from gradcalc import parse_table
from gradcalc.errors import ParseError

GRAMMAR_DIR = parse_table.grammar_dir()
GRAMMAR = open(os.path.join(GRAMMAR_DIR, parse_table.GRAMMAR_FILE), encoding="utf-8").read()


def test_shipped_table_is_what_lark_computes_from_the_grammar():
    """Fails after a grammar edit until `python -m gradcalc.parse_table` is run."""
    with open(os.path.join(GRAMMAR_DIR, parse_table.TABLE_FILE), encoding="utf-8") as handle:
        shipped = handle.read()
    assert shipped == parse_table.dumps(parse_table.compute(GRAMMAR))


def test_the_parser_reads_the_child_codes_of_the_table():
    assert (gc_parse._KEEP, gc_parse._SPLICE) == (parse_table.KEEP, parse_table.SPLICE)


def test_computing_the_table_twice_gives_the_same_file():
    # Lark numbers its states differently from run to run; the file must not churn.
    assert parse_table.dumps(parse_table.compute(GRAMMAR)) == \
        parse_table.dumps(parse_table.compute(GRAMMAR))


# -- Lark's parser with the same builder, as the oracle ------------------------------

def _oracle_parser(source):
    """Lark's LALR parser on the same grammar, calling the same builder methods."""
    def as_match(token):  # a Lark token as the `re.Match` the builder takes
        return re.compile(re.escape(str(token))).match(source, token.start_pos)

    def wrap(method):
        def callback(self, children):
            return method(*[as_match(c) if isinstance(c, lark.Token) else c for c in children])
        return callback

    oracle = type("Oracle", (lark.Transformer,), {
        name: wrap(getattr(gc_parse._Builder, name)) for name in vars(gc_parse._Builder)
        if not name.startswith("_")})
    return lark.Lark(GRAMMAR, start="program", parser="lalr", transformer=oracle(),
                     maybe_placeholders=False)


def _outcome_by_lark(source):
    try:
        return ("ast", _oracle_parser(source).parse(source))
    except UnexpectedCharacters as exc:
        return ("character", exc.pos_in_stream)
    except UnexpectedToken as exc:
        where = None if exc.token.type == "$END" else exc.token.start_pos
        return ("token", exc.token.type, where, set(exc.expected))
    except ParseError as exc:  # raised by the builder itself
        return ("builder", exc.message, exc.span)


def _outcome_by_gradcalc(source):
    try:
        return ("ast", gc_parse._statements(source, gc_parse._table()))
    except gc_parse._UnexpectedCharacter as exc:
        return ("character", exc.pos)
    except gc_parse._UnexpectedToken as exc:
        where = None if exc.token.type == "$END" else exc.token.start
        return ("token", exc.token.type, where, exc.expected)
    except ParseError as exc:
        return ("builder", exc.message, exc.span)


PIECES = ["x", "y1", "σ", "f", "2", "0.5", ".5", "1e-3", "3.", "+", "-", "*", "/", "^", "**",
          "(", ")", ",", "=", ";", "\n", " ", "\t", "# note\n", "exp(", "max(", "$", "[", "]",
          "@", "!", "**-", "2x", ")(", "[1, 2]", "v[0]"]


@settings(max_examples=600)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_same_outcome_as_lark_on_any_token_soup(pieces):
    source = "".join(pieces)
    assert _outcome_by_gradcalc(source) == _outcome_by_lark(source)


@pytest.mark.parametrize("source", [
    "(x+y)*max(z,w)", "q = x + y; f = q * z", "sig(t) = 1/(1+exp(-t)); sig(w*x)",
    "-x^2", "2^-1", "x^y^z", "x ** y", "a\n\n b = a*2 # c\n b", "f()", "", ";;",
    "x y", "x , y", "x = = y", "(x", "x +", "x )", "f(x)(y)", "x ** * y", "1 = 2",
    "f(1) = x", "x;,", "max(x,)", "x $ y", "(" * 300 + "x" + ")" * 300,
    "[[1, 2], [3, 4]] @ v", "M[1, 0]", "[]", "v[]", "v[0][1]", "[x, y]^2",
])
def test_same_outcome_as_lark_on_the_usual_inputs_and_mistakes(source):
    assert _outcome_by_gradcalc(source) == _outcome_by_lark(source)


# -- the contextual lexer: a terminal that is not acceptable here is lexed again -----

TOY = r'''
start: "x" STAR STAR "y" | "z" POW "y"
STAR: "*"
POW: "**"
%ignore " "
'''


class _ToyBuilder:
    @staticmethod
    def start(*tokens):
        return tuple(t.group() if hasattr(t, "group") else str(t) for t in tokens)


@pytest.mark.parametrize("source", ["x**y", "x * * y", "z**y", "z*y", "x*y", "x ** y"])
def test_a_terminal_is_lexed_as_the_parser_state_allows_as_lark_does(source):
    data = parse_table.compute(TOY.replace("start", "program"))
    table = gc_parse._Table(data, type("B", (), {"program": _ToyBuilder.start}))
    oracle = lark.Lark(TOY, parser="lalr", maybe_placeholders=False)
    try:
        expected = tuple(str(t) for t in oracle.parse(source).children)
    except lark.exceptions.UnexpectedInput as exc:
        expected = type(exc).__name__
    try:
        got = gc_parse._statements(source, table)
    except gc_parse._UnexpectedToken:
        got = "UnexpectedToken"
    except gc_parse._UnexpectedCharacter:
        got = "UnexpectedCharacters"
    assert got == expected


# -- a table that does not fit is not trusted -----------------------------------------

def _grammar_copy(tmp_path, table_text):
    folder = tmp_path / "grammar"
    folder.mkdir()
    shutil.copy(os.path.join(GRAMMAR_DIR, parse_table.GRAMMAR_FILE), folder)
    if table_text is not None:
        (folder / parse_table.TABLE_FILE).write_text(table_text, encoding="utf-8")
    return str(folder)


def _shipped():
    with open(os.path.join(GRAMMAR_DIR, parse_table.TABLE_FILE), encoding="utf-8") as handle:
        return json.load(handle)


def _damaged():
    text = parse_table.dumps(_shipped())
    stale = _shipped()
    stale["grammar"] = stale["grammar"].replace("ADD_OP", "PLUS_OP")
    out_of_range = _shipped()
    out_of_range["states"][0][0]["NAME"] = 10_000
    bad_rule = _shipped()
    bad_rule["rules"][0][1] = [7]
    unknown_format = dict(_shipped(), format=99)
    return {
        "truncated": text[: len(text) // 2],
        "not JSON": "\x00\x01garbage",
        "another grammar": json.dumps(stale),
        "a state out of range": json.dumps(out_of_range),
        "a malformed rule": json.dumps(bad_rule),
        "an unknown format": json.dumps(unknown_format),
        "a list": "[]",
        "missing": None,
    }


@pytest.mark.parametrize("damage", list(_damaged()))
def test_a_stale_or_damaged_table_is_ignored_and_computed_again(tmp_path, damage):
    folder = _grammar_copy(tmp_path, _damaged()[damage])
    assert parse_table.load(folder) == parse_table.compute(GRAMMAR)


def test_the_shipped_table_is_used_as_it_is(tmp_path):
    folder = _grammar_copy(tmp_path, parse_table.dumps(_shipped()))
    assert parse_table.load(folder) == _shipped()


def test_loading_writes_nothing(tmp_path):
    """No cache file: a read-only or shared installation parses the same."""
    folder = _grammar_copy(tmp_path, "not a table")
    os.chmod(folder, 0o555)
    try:
        before = sorted(os.listdir(folder))
        parse_table.load(folder)
        assert sorted(os.listdir(folder)) == before
    finally:
        os.chmod(folder, 0o755)
