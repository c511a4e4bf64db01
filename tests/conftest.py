"""Shared helpers: run the CLI in-process (Click's CliRunner), parse strict JSON, read what
a process showed on a pseudo-terminal."""
import json
import os
import select

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from gradcalc.cli import cli

# CI runs the same examples every time; locally each run explores new ones.
settings.register_profile("ci", derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def strict_json(text: str):
    """json.loads that rejects NaN and Infinity, as RFC 8259 does."""
    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=reject)


class Ran:
    def __init__(self, result):
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def json(self):
        return strict_json(self.stdout)


@pytest.fixture
def gradcalc_cli():
    """Call as gradcalc_cli("eval", "x*y", "x=2", "y=3", input=None)."""
    runner = CliRunner()

    def run(*args, input=None):
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=True)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result)
    return run


class Exited:
    """What `gradcalc ARGS` did, run in-process through the entry point (gradcalc.cli.main)."""

    def __init__(self, code, stdout: bytes, stderr: bytes):
        self.code = code
        self.stdout = stdout.decode("utf-8")  # output is always UTF-8
        self.stderr = stderr.decode("utf-8")

    def json(self):
        return strict_json(self.stdout)


def run_main(*args, stdin: bytes = b"", env=None) -> Exited:
    """The entry point as the console script runs it (argument checks, Click's usage errors
    in gradcalc's format, exit codes), with captured streams."""
    from gradcalc.cli import main

    with CliRunner().isolation(input=stdin, env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        return Exited(code, out.getvalue(), err.getvalue())


@pytest.fixture
def gradcalc_main():
    """Call as gradcalc_main("eval", "x*y", "x=2", "y=3", stdin=b"")."""
    return run_main


def read_terminal(leader: int, timeout: float) -> bytes:
    """Everything written to a pseudo-terminal, read from its leader side until the
    process on the other side closes it (or `timeout` seconds pass with nothing new)."""
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        try:
            chunk = os.read(leader, 65536) if ready else b""
        except OSError:  # the other side closed
            chunk = b""
        if not chunk:
            return shown
        shown += chunk
