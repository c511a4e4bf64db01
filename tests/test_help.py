"""What a user reads in --help: examples that run, what EXPR may be, summaries not cut
mid-sentence, and no reference to a document the user does not have."""
import pathlib
import re
import shlex

import pytest

from conftest import run_main

COMMANDS = ["eval", "check", "grade", "batch", "graph", "functions", "hessian"]
WITH_EXPR = ["eval", "check", "grade", "batch", "graph", "hessian"]


def help_of(*command) -> str:
    ran = run_main(*command, "--help")
    assert ran.code == 0
    return ran.stdout


def test_the_top_level_help_has_examples_that_run():
    text = help_of()
    examples = [line.strip() for line in text.splitlines() if line.strip().startswith("gradcalc ")]
    assert 2 <= len(examples) <= 4
    for example in examples:
        assert run_main(*shlex.split(example)[1:]).code == 0, example


def test_command_summaries_are_whole_sentences():
    listed = help_of().split("Commands:")[1]
    summaries = [line.split(None, 1)[1] for line in listed.strip().splitlines()]
    assert len(summaries) == len(COMMANDS)
    assert all(s.endswith(".") and not s.endswith("...") for s in summaries), summaries


@pytest.mark.parametrize("command", WITH_EXPR)
def test_each_command_says_what_expr_may_be(command):
    text = " ".join(help_of(command).split())
    assert "'-'" in text and "@FILE" in text


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_cites_no_document_the_user_lacks(command):
    assert not re.search(r"SPEC|§", help_of(*command))


def test_nothing_shipped_cites_the_internal_spec():
    package = pathlib.Path(__file__).parents[1] / "cli" / "gradcalc"
    cited = [str(p) for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".json")
             and "SPEC" in p.read_text(encoding="utf-8")]
    assert cited == []
