"""Shared helpers: run the CLI in-process (Click's CliRunner) and parse strict JSON."""
import json
import os

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
