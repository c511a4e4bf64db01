"""The LALR(1) table of grammar/gradcalc.lark, computed by Lark and shipped as JSON.

Building Lark's parser costs more than a whole `gradcalc eval` should (importing Lark
and computing the table take about 5× a bare `python -c pass`), so the table is computed
once, when the grammar changes, and stored beside it as plain JSON data: no pickle, no
code. After editing the grammar, regenerate it with

    python -m gradcalc.parse_table

`load()` returns the shipped table only if it was made from the grammar text it sits
next to and is well formed; otherwise (a stale, damaged or missing file) it computes the
table from the grammar with Lark, which is slower but gives the same answer.

The data holds what Lark's LALR parser and its contextual lexer would do:
  terminals   [name, regex] in the order Lark's lexer tries them; `ignore` names skipped ones
  rules       [origin, children, callback, expand_single] per grammar rule, where children
              says per right-hand-side symbol 0 (drop a filtered token), 1 (keep) or
              2 (splice in the children of an inlined `_rule`), and callback is the
              transformer method (None for an inlined rule)
  states      [actions, gotos] per state: actions maps a terminal (or "$END") to a shift
              target (>= 0) or a reduction ~rule (< 0); gotos maps a rule name to a state
  start, end  the state before any input and the one that accepts the program
"""
from __future__ import annotations

import json
import os

FORMAT = 1
START = "program"
GRAMMAR_FILE = "gradcalc.lark"
TABLE_FILE = "gradcalc.table.json"

KEEP, DROP, SPLICE = 1, 0, 2


def grammar_dir() -> str:
    from . import grammar as grammar_package
    return os.path.dirname(grammar_package.__file__)


def load(folder: str | None = None) -> dict:
    """The table for the installed grammar: the shipped one if valid, else computed."""
    folder = folder or grammar_dir()
    with open(os.path.join(folder, GRAMMAR_FILE), encoding="utf-8") as handle:
        grammar = handle.read()
    try:
        with open(os.path.join(folder, TABLE_FILE), encoding="utf-8") as handle:
            data = json.load(handle)
        check(data, grammar)
        return data
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return compute(grammar)


def check(data, grammar: str) -> None:
    """Raise ValueError unless `data` is a well-formed table made from `grammar`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("unknown table format")
    if data.get("grammar") != grammar:
        raise ValueError("the table was made from another grammar")
    terminals, rules, states = data["terminals"], data["rules"], data["states"]
    names = set()
    for name, regex in terminals:
        if not isinstance(name, str) or not isinstance(regex, str):
            raise ValueError("bad terminal")
        names.add(name)
    if not set(data["ignore"]) <= names:
        raise ValueError("an ignored terminal is not defined")
    origins = set()
    for origin, children, callback, expand_single in rules:
        origins.add(origin)
        if not (isinstance(origin, str) and isinstance(expand_single, bool)
                and all(c in (KEEP, DROP, SPLICE) for c in children)
                and (callback is None or isinstance(callback, str))):
            raise ValueError("bad rule")
    count = len(states)
    for actions, gotos in states:
        for symbol, action in actions.items():
            if symbol not in names and symbol != "$END" or type(action) is not int \
                    or not -len(rules) <= action < count:
                raise ValueError("bad action")
        for symbol, target in gotos.items():
            if symbol not in origins or type(target) is not int or not 0 <= target < count:
                raise ValueError("bad goto")
    if not (type(data["start"]) is int and type(data["end"]) is int
            and 0 <= data["start"] < count and 0 <= data["end"] < count):
        raise ValueError("bad start or end state")


def compute(grammar: str) -> dict:
    """Let Lark build its LALR parser for `grammar` and export what it would do.

    States are numbered breadth-first from the start state, symbols taken in sorted order,
    so the same grammar always gives the same file (Lark's own numbering varies by run).
    """
    import re

    import lark
    from lark.lexer import _create_unless

    parser = lark.Lark(grammar, start=START, parser="lalr", lexer="contextual",
                       maybe_placeholders=False)
    root_lexer = parser.parser.lexer.root_lexer
    _, unless = _create_unless(root_lexer.terminals, root_lexer.g_regex_flags, re, False)
    if unless or root_lexer.g_regex_flags or parser.options.postlex:
        raise ValueError("the grammar needs lexer features the table does not carry "
                         "(keywords matched by a regex terminal, flags or a post-lexer)")
    table = parser.parser.parser.parser.parse_table

    rules = sorted(parser.rules, key=lambda r: (r.origin.name, [s.name for s in r.expansion],
                                                r.alias or ""))
    rule_id = {rule: i for i, rule in enumerate(rules)}

    def shape(rule):
        keep_all = rule.options.keep_all_tokens
        children = [DROP if s.is_term and s.filter_out and not keep_all
                    else SPLICE if not s.is_term and s.name.startswith("_") else KEEP
                    for s in rule.expansion]
        inline = rule.origin.name.startswith("_")
        callback = None if inline else rule.alias or rule.options.template_source \
            or rule.origin.name
        return [rule.origin.name, children, callback, bool(rule.options.expand1 and not rule.alias)]

    start = table.start_states[START]
    order = [start]
    number = {start: 0}
    for state in order:  # breadth-first; `order` grows as new states are met
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action.name == "Shift" and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    states = []
    for state in order:
        actions, gotos = {}, {}
        for symbol in sorted(table.states[state]):
            action, arg = table.states[state][symbol]
            if action.name == "Shift":
                (actions if symbol.isupper() else gotos)[symbol] = number[arg]
            else:
                actions[symbol] = ~rule_id[arg]
        states.append([actions, gotos])
    return {
        "format": FORMAT,
        "lark": lark.__version__,
        "grammar": grammar,
        "terminals": [[t.name, t.pattern.to_regexp()] for t in root_lexer.terminals],
        "ignore": sorted(parser.ignore_tokens),
        "rules": [shape(rule) for rule in rules],
        "states": states,
        "start": number[start],
        "end": number[table.end_states[START]],
    }


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n"


def main() -> None:
    folder = grammar_dir()
    with open(os.path.join(folder, GRAMMAR_FILE), encoding="utf-8") as handle:
        grammar = handle.read()
    path = os.path.join(folder, TABLE_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(dumps(compute(grammar)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
