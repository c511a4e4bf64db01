"""The README cannot drift: every `console` block is run and its output compared with
what the block shows, line by line; the files the blocks read are shipped beside the
README; the figures it states are the code's; its set-up commands are the ones CI runs.

How a block is run (README, "Testing"): in a fresh directory holding a copy of the files
beside the README, each `$ ` line by bash with this checkout's `gradcalc` and `python`
first on PATH, standard output and error together, COLUMNS=80 unless an HTML comment
just above the block says otherwise (`<!-- console: COLUMNS=100 -->`). A line `...` in
the shown output stands for any number of lines; trailing spaces are not compared. A
block that cannot run here (it needs the network, say) is marked
`<!-- console: skip (why) -->` and is only listed.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from gradcalc import limits
from gradcalc.defaults import CHECK_STEP, CHECK_TOLERANCE, GRAPH_MAX_NODES
from gradcalc.render import SUMMARY_ROWS

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!-- console:(?P<options>[^>]*)-->\n)?```console\n(?P<body>.*?)```",
                   re.S)


def blocks():
    found = []
    for match in BLOCK.finditer(README):
        options = (match.group("options") or "").strip()
        line = README.count("\n", 0, match.start("body"))
        found.append(pytest.param(options, match.group("body"), id=f"line {line}",
                                  marks=[pytest.mark.skip(reason=options)]
                                  if options.startswith("skip") else []))
    return found


def sessions(body: str):
    """(command, shown output lines) for each `$ ` line of a block."""
    result = []
    for line in body.splitlines():
        if line.startswith("$ "):
            result.append((line[2:], []))
        else:
            assert result, f"output before any command: {line!r}"
            result[-1][1].append(line.rstrip())
    return result


def files_read(command: str) -> list[str]:
    names = re.findall(r"(?:--input|-i|cat|--bindings|--answers)\s+([\w./-]+)", command)
    return names + re.findall(r"(?<![\w@])@([\w./-]+)", command)


def matches(shown: list[str], actual: list[str]) -> bool:
    pattern = "".join(r"(?:.*\n)*?" if line == "..." else re.escape(line) + "\n"
                      for line in shown)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def test_the_readme_has_console_blocks():
    assert len(blocks()) >= 8


@pytest.mark.parametrize("options,body", blocks())
def test_console_block(options, body, tmp_path):
    width = re.search(r"COLUMNS=(\d+)", options)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "GRADCALC_DEBUG")}
    env.update(COLUMNS=width.group(1) if width else "80", PYTHONUNBUFFERED="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    for command, shown in sessions(body):
        for name in files_read(command):
            if (tmp_path / name).exists():  # made by an earlier command of the block
                continue
            beside = ROOT / name
            assert beside.is_file(), f"{name} is used by the README but not shipped beside it"
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(beside, tmp_path / name)
        ran = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, timeout=60,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        actual = [line.rstrip() for line in ran.stdout.splitlines()]
        assert matches(shown, actual), \
            f"$ {command}\n--- the README shows:\n" + "\n".join(shown) + \
            "\n--- gradcalc prints:\n" + "\n".join(actual)


def test_a_wildcard_line_matches_any_lines():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["...", "d"], ["b", "d"]) and matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "d"], ["a", "b", "d"])


def test_the_set_up_commands_are_the_ones_ci_runs():
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    assert any(c.startswith("pip install . && gradcalc eval") for c in commands)
    tests = [c for c in commands if "pytest" in c]
    assert tests == ['pip install -e ".[test]" && python -m pytest']
    assert tests[0] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for word in ("virtual environment", "venv", "Graphviz", "-e"):
        assert word in setup


@pytest.mark.parametrize("figure", [
    f"{limits.DEFAULT.source:,} characters", f"{limits.DEFAULT.depth:,} levels",
    f"| {limits.DEFAULT.nodes:,} |", f"{limits.DEFAULT.digits:,} digits",
    f"{limits.MAX_GATE_NESTING} levels", f"| {limits.MAX_DIMENSIONS} |",
    f"{limits.MAX_JACOBIAN:,} numbers", f"{GRAPH_MAX_NODES} nodes",
    f"past {2 * SUMMARY_ROWS} rows only the first and last {SUMMARY_ROWS}",
])
def test_the_figures_the_readme_states_are_the_codes(figure):
    assert figure in README


def test_the_check_defaults_the_readme_states_are_the_codes():
    assert "(default 1e-5)" in README and CHECK_STEP == 1e-5
    assert "(default 1e-6)" in README and CHECK_TOLERANCE == 1e-6


def test_no_stale_figure_remains():
    assert "100,000 bits" not in README
