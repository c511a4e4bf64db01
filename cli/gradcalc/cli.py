"""The command line: options wired to the stages (parse, lower, run, render), nothing more.

Every user error ends here as one message on stderr (and a JSON object on stdout under
--json) with exit code 2; a failed check is exit code 1 (SPEC §5).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

import click

from . import __version__
from . import bindings as binding_values
from . import check as checking
from . import render
from .api import TIES, number_system, run_graph
from .errors import GradcalcError, UsageError
from .lower import lower
from .parse import parse

# Expressions may start with '-' ("-x^2"): unknown options are passed on as arguments
# and reported by the binding reader if they are not an expression or a binding.
_ARGS = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gradcalc", message="%(prog)s %(version)s")
def cli():
    """gradcalc: the value and gradient of every node of a computational graph."""


def read_source(expr: str) -> str:
    """EXPR as given, `-` for standard input, or `@FILE` for a file."""
    if expr == "-":
        return sys.stdin.read()
    if expr.startswith("@"):
        path = expr[1:]
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except IsADirectoryError:
            raise UsageError(f"{path} is a directory, not a file") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text") from None
    return expr


@contextmanager
def reported(json_mode: bool):
    """Turn a GradcalcError into its message on stderr (and JSON on stdout), exit 2."""
    try:
        yield
    except GradcalcError as exc:
        if json_mode:
            click.echo(render.dumps(exc.to_json()))
        click.echo(exc.format(), err=True)
        sys.exit(2)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def read_bindings(arguments, path: str | None, xp) -> dict:
    """NAME=VALUE arguments over a --bindings file: command-line values win."""
    values = binding_values.from_file(path, xp) if path else {}
    values.update(binding_values.from_arguments(arguments, xp))
    return values


# Options that eval and check share.
bindings_option = click.option(
    "--bindings", "bindings_file", metavar="FILE.json",
    help="Read NAME: VALUE pairs from a JSON object; command-line values win.")
ties_option = click.option(
    "--ties", type=click.Choice(TIES), default="split", show_default=True,
    help="max/min ties: split the gradient evenly, or give it all to the first.")
precision_option = click.option(
    "--precision", type=click.IntRange(1, 17), default=6, show_default=True,
    help="Significant digits in the table (JSON always has full precision).")


@cli.command("eval", context_settings=_ARGS)
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--json", "json_mode", is_flag=True, help="Print the JSON document (SPEC §4) only.")
@click.option("--wrt", metavar="x,y", help="List gradients for these inputs only.")
@bindings_option
@ties_option
@click.option("--expand", is_flag=True, help="Show the inner nodes of user gates.")
@click.option("--upstream", metavar="VALUE", default="1", show_default=True,
              help="The gradient of a loss with respect to the output (dL/df).")
@precision_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--exact", is_flag=True,
              help="Rational arithmetic: 0.1 is 1/10, answers print as -4 or 1/3.")
@click.option("--steps", is_flag=True, help="Write out the chain rule for every node.")
@click.option("--all", "show_all", is_flag=True, help="Show every row of a big table.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown"]), default="table",
              show_default=True, help="Table for the terminal, or Markdown for a write-up.")
def eval_command(expr, bindings, json_mode, wrt, bindings_file, ties, expand, upstream,
                 precision, strict, exact, steps, show_all, fmt):
    """Values and gradients of every node of EXPR at NAME=VALUE bindings.

    \b
    Example (the lecture's circuit):
      gradcalc eval "(x+y)*z" x=-2 y=5 z=-4
    EXPR may be '-' (standard input) or @FILE.
    """
    with reported(json_mode):
        xp = number_system(ties, exact)
        source = read_source(expr)
        values = read_bindings(bindings, bindings_file, xp)
        upstream_value = binding_values.constant_value(upstream, xp, label="--upstream=")
        graph = lower(parse(source), bound=set(values), expand=expand)
        result = run_graph(graph, values, xp=xp, upstream=upstream_value, strict=strict,
                           wrt=_names(wrt))
    run = result.run
    if json_mode:
        click.echo(result.to_json())
    elif fmt == "markdown":
        click.echo(render.markdown_table(graph, run, precision, show_all))
        click.echo()
        click.echo(render.summary(graph, run, precision, _names(wrt)))
        if steps:
            click.echo("\n**Chain rule, backwards**\n")
            click.echo("\n".join(f"- {line}" for line in render.steps(graph, run, precision)))
    else:
        from rich.console import Console

        console = Console()
        console.print(render.rich_table(graph, run, precision, show_all))
        console.print(render.summary(graph, run, precision, _names(wrt)),
                      highlight=False, markup=False)
        if steps:
            console.print("\nChain rule, backwards:", style="bold")
            for line in render.steps(graph, run, precision):
                console.print("  " + line, highlight=False, markup=False, soft_wrap=True)
    for line in render.warning_lines(graph, result.warnings):
        click.echo(line, err=True)


@cli.command("check", context_settings=_ARGS)
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--json", "json_mode", is_flag=True,
              help="Print the check report as JSON only (see the README).")
@bindings_option
@click.option("--step", metavar="H", type=click.FloatRange(0, min_open=True),
              default=checking.STEP, show_default=True,
              help="The difference step h: the numerical gradient is "
                   "(f(x+h) - f(x-h)) / 2h.")
@click.option("--tol", metavar="TOL", type=click.FloatRange(0), default=checking.TOLERANCE,
              show_default=True, help="The largest relative error that passes.")
@click.option("--expect", multiple=True, metavar="NAME=VALUE",
              help="An answer to check (repeatable): value=... is the output's value, "
                   "x=... is ∂f/∂x, value(q)=... is q's value.")
@click.option("--answers", "answers_file", metavar="FILE.json",
              help="Answers to check, as a JSON object of the same NAME: VALUE pairs.")
@ties_option
@precision_option
def check_command(expr, bindings, json_mode, bindings_file, step, tol, expect, answers_file,
                  ties, precision):
    """Check the gradients of EXPR against central differences, and check answers.

    \b
    Examples:
      gradcalc check "(x+y)*z" x=-2 y=5 z=-4
      gradcalc check "(x+y)*z" x=-2 y=5 z=-4 --expect value=-12 --expect x=-4
    Exit code 1 when a gradient or an answer fails.
    """
    with reported(json_mode):
        xp = number_system(ties)
        source = read_source(expr)
        values = read_bindings(bindings, bindings_file, xp)
        answers = checking.read_answers(answers_file, expect, xp)
        graph = lower(parse(source), bound=set(values))
        report = checking.check(graph, values, xp, step=step, tolerance=tol, answers=answers)
    if json_mode:
        click.echo(render.dumps(report.to_dict()))
    else:
        from rich.console import Console

        console = Console()
        for table in checking.rich_tables(report, precision):
            console.print(table)
        for line in checking.summary(report, precision):
            console.print(line, highlight=False, markup=False)
    for line in render.warning_lines(graph, report.result.warnings):
        click.echo(line, err=True)
    sys.exit(0 if report.passed else 1)


@cli.command("functions")
@click.option("--json", "json_mode", is_flag=True, help="Print the list as JSON.")
def functions_command(json_mode):
    """The built-in operations, each with its derivative rule (from the op table)."""
    if json_mode:
        click.echo(render.dumps({"schema": render.SCHEMA, "functions": render.function_rows()}))
        return
    from rich.console import Console

    Console().print(render.functions_table())


def main(argv=None) -> None:
    """Entry point: Click's usage errors are exit 2 too, and JSON under --json."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=args, prog_name="gradcalc", standalone_mode=False)
    except click.ClickException as exc:
        if "--json" in args:
            error = UsageError(exc.format_message())
            click.echo(render.dumps(error.to_json()))
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
