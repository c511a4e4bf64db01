"""The command line: options wired to the stages (parse, lower, run, render), nothing more.

Every user error ends here as one message on stderr (and a JSON object on stdout under
--json) with exit code 2; a failed check is exit code 1 (README, "Exit codes"). Ctrl-C is one line and
exit code 130, a closed output pipe ends quietly, and a bug is one line and exit code 70,
never a traceback (README, "Exit codes").
"""
from __future__ import annotations

import errno
import functools
import gc
import io
import os
import signal
import sys
from contextlib import contextmanager

import click

from . import __version__
from . import bindings as binding_values
from . import collector, render
from .api import TIES, prepare, run_graph
from .defaults import CHECK_STEP, CHECK_TOLERANCE, GRAPH_FORMATS, GRAPH_MAX_NODES
from .errors import GradcalcError, InternalError, Interrupted, OutOfMemory, UsageError
from .files import binary_stream, check_arguments, read_source, write_atomically
from .limits import DEFAULT, Limits

collector.skip_final_collection()  # a command is the whole process

# A module that one command alone needs (check, picture, batching: numpy) is imported in
# that command's function, so that the other commands do not wait for it at start-up.

# Expressions may start with '-' ("-x^2"): unknown options are passed on as arguments
# and reported by the binding reader if they are not an expression or a binding.
_ARGS = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


class ExpressionCommand(click.Command):
    """A command whose first argument is EXPR, which may start with '-' ("-tanh(x)").

    Click would read "-tanh(x)" as the short options -t, -a, -n, -h...; so when the first
    argument starts with '-' and is not one of the command's options, it is EXPR.
    """

    def parse_args(self, ctx, args):
        expression = None
        if args and args[0].startswith("-") and args[0] != "-" \
                and args[0].split("=", 1)[0] not in self._option_names(ctx):
            expression, args = args[0], ["EXPR", *args[1:]]
        rest = super().parse_args(ctx, args)
        if expression is not None:
            ctx.params["expr"] = expression
        return rest

    def _option_names(self, ctx) -> set[str]:
        return {name for param in self.get_params(ctx)
                for name in (*param.opts, *param.secondary_opts)}


class _Interrupted(Exception):
    """Ctrl-C, carried past Click (which would print a blank line and exit 1)."""


class _Terminated(BaseException):
    """SIGTERM, SIGHUP and the like, raised where the program is, so that what is open is
    undone on the way out as for Ctrl-C: a temporary output file removed, Graphviz
    stopped."""

    def __init__(self, number: int):
        super().__init__(number)
        self.number = number
        self.name = signal.Signals(number).name


# The catchable signals whose default is to end the process: a CPU-time limit (SIGXCPU)
# or an alarm set by a supervisor too. (SIGINT is Ctrl-C, KeyboardInterrupt; SIGPIPE is
# a closed pipe, BrokenPipeError.)
_STOPPING_SIGNALS = tuple(getattr(signal, name) for name in
                          ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                           "SIGXCPU", "SIGVTALRM", "SIGPROF") if hasattr(signal, name))


@contextmanager
def _stopped_by_signals():
    """The signals that would end the process raise _Terminated for the command's
    duration instead, so that it cleans up on the way out (the handlers before are put
    back after: main may run inside another program, a test)."""
    def stop(number, frame):
        raise _Terminated(number)

    before = {}
    try:
        for number in _STOPPING_SIGNALS:
            before[number] = signal.signal(number, stop)
    except ValueError:  # not the main thread: signals are not ours to handle
        pass
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


class _OutputClosed(Exception):
    """The reader of standard output went away (`gradcalc ... | head -1`)."""


class _Commands(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted() from None
        except BrokenPipeError:
            raise _OutputClosed() from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gradcalc", message="%(prog)s %(version)s")
def cli():
    """gradcalc: the value and gradient of every node of a computational graph.

    \b
    Examples (the CS231n circuits):
      gradcalc eval "(x+y)*max(z,w)" x=-2 y=5 z=-4 w=1
      gradcalc eval "q = x + y; f = q * z" x=-2 y=5 z=-4 --steps
      gradcalc check "q = x + y; f = q * z" x=-2 y=5 z=-4 --expect x=-4

    EXPR is the program text in quotes, '-' to read it from standard input, or @FILE to
    read it from a file. Run `gradcalc COMMAND --help` for a command's options.
    """


@contextmanager
def reported(json_mode: bool):
    """Turn a GradcalcError into its message on stderr (and JSON on stdout), exit 2."""
    try:
        yield
    except GradcalcError as exc:
        click.echo(exc.format(), err=True)  # first: it is said even if stdout has failed
        if json_mode:
            click.echo(render.dumps(exc.to_json()))
        sys.exit(2)


def _console():
    """Rich's console for the tables (imported only when one is drawn). Rich ends the
    process with exit code 1 on a closed pipe; gradcalc's entry point ends it instead,
    as for every other write. gradcalc prints no emoji codes (`:smile:`): without them
    Rich does not load its emoji table to look for them in every line printed.
    NO_COLOR (no-color.org) means plain text: no colour and no bold either, where Rich
    alone would still send bold and italic codes."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError()

    plain = bool(os.environ.get("NO_COLOR"))
    return _Console(emoji=False, **({"color_system": None} if plain else {}))


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


# Options that several commands share.
bindings_option = click.option(
    "--bindings", "bindings_file", metavar="FILE.json|FILE.npz",
    help="Read NAME: VALUE pairs from a JSON object, or each array of an .npz by its "
         "name; command-line values win.")
ties_option = click.option(
    "--ties", type=click.Choice(TIES), default="split", show_default=True,
    help="max/min ties: split the gradient evenly, or give it all to the first.")


def judge_options(command):
    """--tol, --atol, --rounded: when an answer (check, grade) is right."""
    options = [
        click.option("--tol", metavar="TOL", type=click.FloatRange(0), default=CHECK_TOLERANCE,
                     show_default=True, help="The largest relative error that passes."),
        click.option("--atol", metavar="ATOL", type=click.FloatRange(0), default=0.0,
                     show_default=True,
                     help="An answer this close to the computed one passes too."),
        click.option("--rounded", is_flag=True,
                     help="An answer is right when the computed value rounds to it at the "
                          "digits it is written with (-0.20 for -0.19661)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


precision_option = click.option(
    "--precision", type=click.IntRange(1, 17), default=6, show_default=True,
    help="Significant digits in the table (JSON always has full precision).")


def file_format_options(*formats):
    """--input-format and --output-format, for the commands that read and write rows in
    these formats (batch, grade)."""
    def decorate(command):
        command = click.option("--output-format", type=click.Choice(formats),
                               help="[default: from -o FILE's extension, else the input's "
                                    "format]")(command)
        return click.option("--input-format", type=click.Choice(formats),
                            help="[default: from the file's extension, else from its first "
                                 "line]")(command)
    return decorate


def limit_options(nodes: bool = True, digits: bool = False):
    """--max-source, --max-depth, --max-elements, --max-nodes (and --max-digits where
    --exact is), given to the command as one `limits` argument (a gradcalc.Limits)."""
    def decorate(command):
        @functools.wraps(command)
        def with_limits(*args, max_source, max_depth, max_elements, **kwargs):
            values = {"source": max_source, "depth": max_depth, "elements": max_elements}
            if nodes:
                values["nodes"] = kwargs.pop("max_nodes")
            if digits:
                values["digits"] = kwargs.pop("max_digits")
            return command(*args, limits=Limits(**values), **kwargs)

        options = [
            click.option("--max-source", type=click.IntRange(1), default=DEFAULT.source,
                         show_default=True, metavar="N",
                         help="The longest program read, in characters."),
            click.option("--max-depth", type=click.IntRange(1), default=DEFAULT.depth,
                         show_default=True, metavar="N",
                         help="The deepest nesting of parentheses, calls and operators."),
        ]
        options.append(click.option(
            "--max-elements", type=click.IntRange(1), default=DEFAULT.elements,
            show_default=True, metavar="N",
            help="The most numbers all the vectors and matrices of a run hold."))
        if nodes:
            options.append(click.option(
                "--max-nodes", type=click.IntRange(1), default=DEFAULT.nodes,
                show_default=True, metavar="N",
                help="The most graph nodes, user gates counted expanded."))
        if digits:
            options.append(click.option(
                "--max-digits", type=click.IntRange(1), default=DEFAULT.digits,
                show_default=True, metavar="N",
                help="The most digits of an exact numerator or denominator (--exact)."))
        for option in reversed(options):
            with_limits = option(with_limits)
        return with_limits
    return decorate


def evaluation_options(command):
    """The options of every command that evaluates EXPR at bindings (eval, graph)."""
    options = [
        bindings_option,
        ties_option,
        click.option("--expand", is_flag=True, help="Show the inner nodes of user gates."),
        click.option("--upstream", metavar="VALUE",
                     help="dL/df: the gradient of a loss with respect to the output "
                          "(default 1); a nested list or @FILE.npy for a vector or "
                          "matrix output."),
        click.option("--strict", is_flag=True, help="Treat warnings as errors."),
    ]
    for option in reversed(options):  # decorators apply bottom-up; keep this order in --help
        command = option(command)
    return command


def evaluated(expr, bindings, bindings_file, ties, expand, upstream, strict, wrt=None,
              exact=False, limits: Limits = DEFAULT, every_node: bool = True):
    """EXPR read, its bindings resolved, lowered and run: (graph, Result). With
    `every_node` False, only the gradients of `wrt` are computed (api.run_graph)."""
    raw = binding_values.collect(bindings, bindings_file)
    with binding_values.naming_the_file(bindings_file):
        graph, xp, values, upstream_value = prepare(read_source(expr, limits), raw, ties=ties,
                                                    exact=exact, expand=expand,
                                                    upstream=upstream, limits=limits)
    return graph, run_graph(graph, values, xp=xp, upstream=upstream_value, strict=strict,
                            wrt=wrt, every_node=every_node)


@cli.command("eval", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="Values and gradients of every node, as a table or JSON.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--json", "json_mode", is_flag=True, help="Print the JSON document only (its keys: see the README).")
@click.option("--wrt", metavar="x,y", help="List gradients for these inputs only.")
@evaluation_options
@precision_option
@click.option("--exact", is_flag=True,
              help="Rational arithmetic: 0.1 is 1/10, answers print as -4 or 1/3.")
@click.option("--steps", is_flag=True, help="Write out the chain rule for every node.")
@click.option("--all", "show_all", is_flag=True, help="Show every row of a big table.")
@click.option("--full", is_flag=True, help="Show vectors and matrices in full.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "latex"]),
              help="Table for the terminal, or Markdown or LaTeX (booktabs, align*) for a "
                   "write-up. [default: table; with -o, the summary line alone]")
@click.option("-o", "--output", "output_path", metavar="FILE.npz|FILE.json",
              help="Write the value and gradients: as arrays (value, and one per input) to "
                   "an .npz, or the JSON document to a .json; the table is printed only if "
                   "--format, --steps, --all, --full or --tangent asks for it.")
@click.option("--symbolic", is_flag=True,
              help="Also give every value and gradient as a formula (needs SymPy: "
                   'pip install "gradcalc[symbolic]"); bindings are optional.')
@click.option("--tangent", metavar="NAME", multiple=True, callback=lambda ctx, param, names:
              _one_tangent(names),
              help="Forward mode: a column with every node's derivative with respect to "
                   "the input NAME, computed forwards.")
@limit_options(digits=True)
def eval_command(expr, bindings, json_mode, wrt, bindings_file, ties, expand, upstream,
                 precision, strict, exact, steps, show_all, full, fmt, output_path, symbolic,
                 tangent, limits):
    """Values and gradients of every node of EXPR at NAME=VALUE bindings.

    \b
    Example (the lecture's circuit):
      gradcalc eval "(x+y)*z" x=-2 y=5 z=-4
      gradcalc eval "(x+y)*z" --symbolic
      gradcalc eval "(x+y)*z" x=-2 y=5 z=-4 --tangent x
    EXPR is the program in quotes, '-' (standard input) or @FILE (a file).
    """
    if symbolic:
        others = {"--exact": exact, "-o": output_path, "--wrt": wrt,
                  "--upstream": upstream, "--tangent": tangent}
        _symbolic_eval(expr, bindings, bindings_file, json_mode, ties, strict, precision,
                       limits, [name for name, given in others.items() if given], steps, fmt)
        return
    # A file, and no table asked for: the summary line alone is printed; and if the file
    # holds arrays, no gradient but those of --wrt is written or shown anywhere.
    summary_only = output_path is not None and not (json_mode or fmt or steps or show_all
                                                    or full or tangent)
    arrays_only = summary_only and output_path.lower().endswith(".npz")
    with reported(json_mode):
        if output_path is not None:
            _check_output(output_path, exact)
        graph, result = evaluated(expr, bindings, bindings_file, ties, expand, upstream,
                                  strict, wrt=_names(wrt), exact=exact, limits=limits,
                                  every_node=not arrays_only)
        if output_path is not None:
            _write_output(output_path, result)
        forward = None if tangent is None else \
            (tangent, _forward_tangents(graph, result, tangent, ties, exact, fmt))
    run = result.run
    if json_mode and forward is not None:
        document = result.to_dict()
        document["tangent"] = tangent
        for row in document["nodes"]:
            row["tangent"] = render.json_number(forward[1][row["id"]])
        click.echo(render.dumps(document))
    elif json_mode:
        result.write_json(sys.stdout)
        sys.stdout.write("\n")
    elif summary_only:
        # The numbers went to the file: the summary says what it holds, without the cost of
        # laying out a table (and loading Rich) that nobody asked for.
        import shutil  # COLUMNS, or the terminal's width (80 off a terminal)

        click.echo(render.summary(graph, run, precision, _names(wrt),
                                  shutil.get_terminal_size().columns))
    elif fmt == "markdown":
        click.echo(render.markdown_table(graph, run, precision, show_all, full))
        click.echo()
        click.echo(render.summary(graph, run, precision, _names(wrt)))
        if steps:
            click.echo("\n**Chain rule, backwards**\n")
            click.echo("\n".join(f"- {line}" for line in render.steps(graph, run, precision)))
    elif fmt == "latex":
        from . import latex

        click.echo(latex.table(graph, run, precision, show_all, full))
        click.echo(latex.summary(graph, run, precision, _names(wrt)))
        if steps:
            click.echo(latex.steps(graph, run, precision))
    else:
        console = _console()
        # crop=False: the table fits the width already (a big one would pay to be measured)
        console.print(render.rich_table(graph, run, precision, show_all, full, forward),
                      crop=False)
        console.print(render.summary(graph, run, precision, _names(wrt), console.width),
                      highlight=False, markup=False, soft_wrap=True)
        if steps:
            console.print("\nChain rule, backwards:", style="bold")
            console.print("\n".join("  " + line for line in render.steps(graph, run, precision)),
                          highlight=False, markup=False, soft_wrap=True)
    for line in render.warning_lines(graph, result.warnings):
        click.echo(line, err=True)


def _symbolic_eval(expr, bindings, bindings_file, json_mode, ties, strict, precision, limits,
                   refused, steps, fmt=None):
    """eval --symbolic: formulas per node (gates expanded), and with bindings the numbers
    beside them, as text, Markdown or LaTeX (`fmt`); `steps`: the chain rule in formulas
    too."""
    from . import symbolic
    from .api import program_warnings
    from .limits import check_source
    from .lower import lower
    from .parse import parse

    with reported(json_mode):
        if refused:
            raise UsageError(f"--symbolic does not combine with {', '.join(refused)}",
                             hint="run eval twice: once with --symbolic, once without")
        symbolic.require_sympy()
        source = read_source(expr, limits)
        raw = binding_values.collect(bindings, bindings_file)
        check_source(source, limits)
        formulas = symbolic.formulas(lower(parse(source), expand=True, limits=limits), ties)
        numbers = None
        if raw:
            with binding_values.naming_the_file(bindings_file):
                graph, xp, values, _ = prepare(source, raw, ties=ties, expand=True,
                                               limits=limits)
            symbolic.refuse_arrays(graph, values)
            numbers = run_graph(graph, values, xp=xp, strict=strict)
    graph = formulas.graph
    warnings = numbers.warnings if numbers is not None else program_warnings(graph, {})

    def show(value):
        return render.format_number(value, precision)
    if json_mode:
        if numbers is None:
            document = symbolic.document(formulas, warnings)
        else:
            document = numbers.to_dict()
            document["symbolic"] = symbolic.json_part(formulas)
            for row, extra in zip(document["nodes"], symbolic.node_formulas(formulas)):
                row.update(extra)
        click.echo(render.dumps(document))
    elif fmt == "latex":
        from . import latex

        click.echo(latex.formula_table(formulas, numbers, precision))
        click.echo(latex.formula_summary(formulas, numbers, precision))
        if steps:
            click.echo(latex.steps(graph, formulas, formulas=True))
    elif fmt == "markdown":
        click.echo("\n".join(symbolic.markdown_lines(formulas, numbers, show)))
        if steps:
            click.echo("\n**Chain rule, backwards**\n")
            click.echo("\n".join(f"- `{line}`" for line in
                                  render.steps(graph, formulas, show=symbolic.text)))
    else:
        click.echo("\n".join(symbolic.text_lines(formulas, numbers, show)))
        if steps:
            click.echo("\nChain rule, backwards:")
            click.echo("\n".join("  " + line for line in
                                  render.steps(graph, formulas, show=symbolic.text)))
    for line in render.warning_lines(graph, warnings):
        click.echo(line, err=True)


@cli.command("hessian", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="Second derivatives of a scalar output: the Hessian, or H·v.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--json", "json_mode", is_flag=True,
              help="Print the JSON document only (inputs, hessian, value, gradients, warnings).")
@click.option("--hvp", metavar="v1,v2,...",
              help="The Hessian-vector product H·v (one number per input, in the order of "
                   "the inputs), without forming the matrix.")
@bindings_option
@ties_option
@precision_option
@limit_options()
def hessian_command(expr, bindings, json_mode, hvp, bindings_file, ties, precision, limits):
    """The Hessian of EXPR (a scalar) at NAME=VALUE bindings: ∂²f/∂row∂column.

    \b
    Example:
      gradcalc hessian "x^2*y + y^3" x=1 y=2
      gradcalc hessian "x^2*y + y^3" x=1 y=2 --hvp 1,0
    Computed exactly by forward over reverse mode, not by finite differences.
    EXPR is the program in quotes, '-' (standard input) or @FILE (a file).
    """
    from . import hessian

    with reported(json_mode):
        direction = None if hvp is None else hessian.parse_direction(hvp)
        raw = binding_values.collect(bindings, bindings_file)
        with binding_values.naming_the_file(bindings_file):
            graph, xp, values, _ = prepare(read_source(expr, limits), raw, ties=ties,
                                           limits=limits)
        second = hessian.second_order(graph, values, xp, direction)
    if json_mode:
        click.echo(render.dumps(hessian.to_dict(second, graph)))
    else:
        click.echo("\n".join(hessian.text_lines(second, precision)))
    for line in render.warning_lines(graph, second.warnings):
        click.echo(line, err=True)


def _one_tangent(names: tuple) -> str | None:
    """--tangent given once (a forward pass follows one input), or not at all."""
    if len(names) > 1:
        raise click.UsageError(f"--tangent is given {len(names)} times ({', '.join(names)}): "
                               "a forward pass follows one input; run once per input, e.g. "
                               f"--tangent {names[0]}")
    return names[0] if names else None


def _forward_tangents(graph, result, name: str, ties: str, exact: bool, fmt: str) -> list:
    """eval --tangent NAME: ∂node/∂NAME per node, by forward mode (gradcalc.dual)."""
    from . import dual

    if name not in graph.inputs:
        raise UsageError(f"--tangent names {name}, which is not an input",
                         hint=f"the inputs are {', '.join(graph.inputs) or 'none'}")
    values = {input_name: result.run.values[i] for input_name, i in graph.inputs.items()}
    if exact or fmt not in (None, "table"):
        raise UsageError("--tangent works in the terminal's table or JSON (not with "
                         f"{'--exact' if exact else '--format ' + fmt})",
                         hint="drop --tangent, or the other option")
    dual.refuse_arrays(graph, values, "--tangent", "drop --tangent: the ∂f/∂node column "
                       "(reverse mode) works on vectors and matrices")
    return dual.forward_tangents(graph, values, name, ties)


def _check_output(path: str, exact: bool) -> None:
    """eval -o: a file gradcalc can write, refused before any work is done."""
    kind = os.path.splitext(path)[1].lower()
    if kind not in (".npz", ".json"):
        raise UsageError(f"cannot tell what to write to {path} from its extension",
                         hint="give -o FILE.npz for arrays (np.load) or -o FILE.json for "
                              "the JSON document")
    if kind == ".npz" and exact:
        raise UsageError("-o FILE.npz holds floating-point arrays, and --exact computes "
                         "rationals", hint="write -o FILE.json (exact numbers are strings "
                                           "there), or drop --exact")


def _write_output(path: str, result) -> None:
    """eval -o: the --json document, or the value and gradients as arrays (.npz)."""
    if path.lower().endswith(".json"):
        text = io.StringIO()
        result.write_json(text)
        text.write("\n")
        write_atomically(path, text.getvalue().encode("utf-8"))
    else:
        from .arrayfiles import write_npz  # numpy only for arrays

        write_npz(path, result)


@cli.command("check", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="Gradients against central differences; your answers checked.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--json", "json_mode", is_flag=True,
              help="Print the check report as JSON only (see the README).")
@bindings_option
@click.option("--step", metavar="H", type=click.FloatRange(0, min_open=True),
              default=CHECK_STEP, show_default=True,
              help="The difference step h: the numerical gradient is "
                   "(f(x+h) - f(x-h)) / 2h.")
@judge_options
@click.option("--sample", metavar="K", type=click.IntRange(1),
              help="Check K random elements of each vector or matrix input (all by default).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The random choice of --sample's elements.")
@click.option("--expect", multiple=True, metavar="NAME=VALUE",
              help="An answer to check (repeatable): value=... is the output's value, "
                   "x=... is ∂f/∂x, value(q)=... is q's value; a nested list or @FILE.npy "
                   "for a vector or matrix.")
@click.option("--answers", "answers_file", metavar="FILE.json",
              help="Answers to check, as a JSON object of the same NAME: VALUE pairs.")
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True,
              help="2: check the Hessian against central differences of the gradient "
                   "instead (scalar inputs).")
@ties_option
@precision_option
@limit_options()
def check_command(expr, bindings, json_mode, bindings_file, step, tol, atol, rounded, sample,
                  seed, expect, answers_file, order, ties, precision, limits):
    """Check the gradients of EXPR against central differences, and check answers.

    \b
    Examples:
      gradcalc check "(x+y)*z" x=-2 y=5 z=-4
      gradcalc check "(x+y)*z" x=-2 y=5 z=-4 --expect value=-12 --expect x=-4
      gradcalc check "sum(W@x)" "W=[[1,2],[3,4]]" "x=[1,-1]" --expect "W=[[1,-1],[1,-1]]"
    EXPR is the program in quotes, '-' (standard input) or @FILE (a file).
    Exit code 1 when a gradient or an answer fails.
    """
    from . import checking

    if order == 2:
        given = {"--expect": expect, "--answers": answers_file, "--sample": sample,
                 "--atol": atol, "--rounded": rounded}
        _check_second_order(expr, bindings, bindings_file, json_mode, step, tol, ties,
                            precision, limits, [name for name, on in given.items() if on])
    with reported(json_mode):
        raw = binding_values.collect(bindings, bindings_file)
        with binding_values.naming_the_file(bindings_file):
            graph, xp, values, _ = prepare(read_source(expr, limits), raw, ties=ties,
                                           limits=limits)
        judge = checking.Judge(tol, atol, rounded)
        answers = checking.read_answers(answers_file, expect, xp)
        report = checking.check(graph, values, xp, step=step, judge=judge, answers=answers,
                                sample=sample, seed=seed, limits=limits)
    if json_mode:
        click.echo(render.dumps(report.to_dict()))
    else:
        console = _console()
        for table in checking.rich_tables(report, precision):
            console.print(table)
        for line in checking.summary(report, precision):
            console.print(line, highlight=False, markup=False)
    for line in render.warning_lines(graph, report.result.warnings):
        click.echo(line, err=True)
    sys.exit(0 if report.passed else 1)


def _check_second_order(expr, bindings, bindings_file, json_mode, step, tol, ties, precision,
                        limits, refused):
    """check --order 2: the Hessian against central differences of the gradient; exits."""
    from . import hessian

    with reported(json_mode):
        if refused:
            raise UsageError(f"--order 2 does not combine with {', '.join(refused)}",
                             hint="check answers with --order 1 (the default)")
        raw = binding_values.collect(bindings, bindings_file)
        with binding_values.naming_the_file(bindings_file):
            graph, xp, values, _ = prepare(read_source(expr, limits), raw, ties=ties,
                                           limits=limits)
        report = hessian.check_second_order(graph, values, xp, step, tol)
    if json_mode:
        click.echo(render.dumps(report.to_dict(graph)))
    else:
        click.echo("\n".join(report.text_lines(precision)))
    for line in render.warning_lines(graph, report.second.warnings):
        click.echo(line, err=True)
    sys.exit(0 if report.passed else 1)


@cli.command("grade", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="Grade a class file: each student's answers, and the item analysis.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--answers", "answers_path", required=True, metavar="FILE",
              help="The class: CSV with a header row, or JSON Lines; one row per student.")
@click.option("-o", "--output", "output_path", default="-", show_default=True,
              metavar="FILE|-", help="Where to write (a file appears only if grading succeeds).")
@file_format_options("csv", "jsonl")
@click.option("--carry-forward", is_flag=True,
              help="Credit a gradient that follows by the chain rule from the student's "
                   "own (wrong) answers upstream.")
@bindings_option
@judge_options
@ties_option
@limit_options()
def grade_command(expr, bindings, answers_path, output_path, input_format, output_format,
                  carry_forward, bindings_file, tol, atol, rounded, ties, limits):
    """Grade a class: each student's answers to EXPR, one row per student.

    \b
    Example:
      gradcalc grade "q = x + y; f = q * z" --answers class.csv -o grades.csv
    Columns named like EXPR's inputs bind them per student; value, value(NAME) and
    grad(NAME) are answers; other columns are copied. NAME=VALUE binds every row.
    The item analysis goes to standard error. Exit code 0 whatever the scores.
    EXPR is the program in quotes, '-' (standard input) or @FILE (a file).
    """
    from . import grading

    with reported(False):
        raw = binding_values.collect(bindings, bindings_file)
        columns, rows, fmt = grading.read_class(answers_path, input_format)
        judge = grading.Judge(tol, atol, rounded)
        grades = grading.grade(read_source(expr, limits), rows, raw, judge=judge, ties=ties,
                               carry_forward=carry_forward, limits=limits, columns=columns)
        out_format = output_format or grading.format_of(output_path) or fmt
        text = grading.write_grades(grades, out_format)
        if output_path == "-":
            click.echo(text, nl=False)
        else:
            write_atomically(output_path, text.encode("utf-8"))
    for line in grades.item_lines():
        click.echo(line, err=True)


@cli.command("batch", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="Value and gradients at every row of a CSV or JSON Lines file.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("-i", "--input", "input_path", default="-", show_default=True, metavar="FILE|-",
              help="The points: CSV with a header row of names, or JSON Lines.")
@click.option("-o", "--output", "output_path", default="-", show_default=True,
              metavar="FILE|-", help="Where to write (a file appears only if the run succeeds).")
@file_format_options("csv", "jsonl", "parquet")
@click.option("--wrt", metavar="x,y", help="Gradient columns for these inputs only.")
@click.option("--keep", type=click.Choice(["all", "inputs", "none"]), default="all",
              show_default=True, help="Which input columns to copy to the output.")
@click.option("--on-error", type=click.Choice(["stop", "skip", "null"]), default="stop",
              show_default=True, help="A bad row stops the run (exit 2), is left out, "
                                      "or is written with empty values.")
@click.option("--chunk-size", type=click.IntRange(1), metavar="N",
              help="Points per vectorized pass [default: 65536, fewer for large graphs].")
@bindings_option
@ties_option
def batch_command(expr, bindings, input_path, output_path, input_format, output_format, wrt,
                  keep, on_error, chunk_size, bindings_file, ties):
    """Value and gradients of EXPR at every point (row) of a CSV, JSON Lines or Parquet file.

    \b
    Example:
      gradcalc batch "(x+y)*max(z,w)" --input points.csv -o grads.csv
    NAME=VALUE bindings are shared by all rows. EXPR is the program in quotes,
    '-' (standard input, if the points come from --input FILE) or @FILE (a file).
    """
    from . import batching  # numpy only for the commands that need it

    # main() pauses the cycle collector for commands that build one big acyclic graph;
    # a stream of chunks must not let any cycle it leaves pile up.
    gc.enable()
    with reported(False):
        if expr == "-" and input_path == "-":
            raise UsageError("EXPR and the points cannot both come from standard input",
                             hint="give the points with --input FILE, or EXPR as text")
        raw = binding_values.collect(bindings, bindings_file)
        # `gradcalc batch ... | head`: a closed pipe ends quietly in main()
        lines = batching.run_files(
            read_source(expr), raw, input_path=input_path, output_path=output_path,
            input_format=input_format, output_format=output_format, wrt=_names(wrt),
            keep=keep, on_error=on_error, chunk_size=chunk_size, ties=ties)
    for line in lines:
        click.echo(line, err=True)


@cli.command("functions", short_help="The built-in functions and their derivative rules.")
@click.option("--json", "json_mode", is_flag=True, help="Print the list as JSON.")
def functions_command(json_mode):
    """The built-in operations, each with its derivative rule (from the op table)."""
    if json_mode:
        click.echo(render.dumps({"schema": render.SCHEMA, "functions": render.function_rows()}))
        return
    _console().print(render.functions_table())


@cli.command("graph", cls=ExpressionCommand, context_settings=_ARGS,
             short_help="A picture of the graph: values and gradients on its edges.")
@click.argument("expr")
@click.argument("bindings", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS),
              help="DOT, Mermaid or TikZ (LaTeX) text, or SVG/PNG drawn by Graphviz "
                   "[default: from -o FILE's extension, else dot].")
@click.option("-o", "--output", "output_path", metavar="FILE",
              help="Write the picture to FILE instead of standard output.")
@evaluation_options
@click.option("--precision", type=click.IntRange(1, 17), default=3, show_default=True,
              help="Significant digits of the numbers on the edges.")
@click.option("--max-nodes", type=click.IntRange(1), default=GRAPH_MAX_NODES,
              show_default=True, help="Refuse to draw a larger graph.")
@click.option("--symbolic", is_flag=True,
              help="Show on every node its value's and ∂f/∂node's formula (needs SymPy: "
                   'pip install "gradcalc[symbolic]"); bindings are optional.')
@limit_options(nodes=False)
def graph_command(expr, bindings, fmt, output_path, bindings_file, ties, expand, upstream,
                  precision, max_nodes, strict, symbolic, limits):
    """A picture of EXPR's graph: the value (green) above each edge, the gradient (red) below.

    \b
    Example (the lecture's circuit, drawn by Graphviz):
      gradcalc graph "(x+y)*z" x=-2 y=5 z=-4 -o circuit.png
      gradcalc graph "(x+y)*z" --symbolic -o circuit.svg
    EXPR is the program in quotes, '-' (standard input) or @FILE (a file).
    """
    from . import picture

    formulas = None

    if output_path == "-":
        output_path = None
    with reported(False):
        fmt = picture.format_for(output_path, fmt)
        if fmt == "png" and output_path is None and sys.stdout.isatty():
            raise UsageError("a PNG is binary and stdout is a terminal",
                             hint="write it to a file with -o FILE.png")
        # No picture is drawn past --max-nodes; a graph that large is still computed.
        limits = Limits(limits.source, limits.depth, max(max_nodes, DEFAULT.nodes),
                        elements=limits.elements)
        if symbolic:
            graph, formulas, run, warnings = _graph_formulas(
                expr, bindings, bindings_file, ties, upstream, strict, limits, max_nodes)
        else:
            graph, result = evaluated(expr, bindings, bindings_file, ties, expand, upstream,
                                      strict, limits=limits)
            run, warnings = result.run, result.warnings
        picture.check_size(graph, max_nodes)
        maker = picture.TEXT_FORMATS.get(fmt, picture.dot)
        text = maker(graph, run, precision, warnings, formulas)
        data = text.encode("utf-8") if fmt in picture.TEXT_FORMATS else picture.draw(text, fmt)
        _write_picture(data, output_path)
    for line in render.warning_lines(graph, warnings):
        click.echo(line, err=True)


def _graph_formulas(expr, bindings, bindings_file, ties, upstream, strict, limits, max_nodes):
    """graph --symbolic: (graph with gates expanded, its Formulas, the pass at the bindings
    or one with no numbers when none are given, warnings)."""
    from . import symbolic
    from .api import program_warnings
    from .limits import check_source
    from .lower import lower
    from .parse import parse
    from .picture import check_size
    from .run import Pass

    if upstream is not None:
        raise UsageError("--symbolic does not combine with --upstream",
                         hint="the formulas are of the output itself: drop --upstream")
    symbolic.require_sympy()
    source = read_source(expr, limits)
    check_source(source, limits)
    graph = lower(parse(source), expand=True, limits=limits)
    check_size(graph, max_nodes)  # before SymPy works on a graph too big to draw
    formulas = symbolic.formulas(graph, ties)
    if not (bindings or bindings_file):
        empty = [None] * len(formulas.graph.nodes)
        return formulas.graph, formulas, Pass(empty), program_warnings(formulas.graph, {})
    graph, result = evaluated(expr, bindings, bindings_file, ties, True, None, strict,
                              limits=limits)
    symbolic.refuse_arrays(graph, {name: result.run.values[i]
                                   for name, i in graph.inputs.items()})
    return graph, formulas, result.run, result.warnings


def _write_picture(data: bytes, path: str | None) -> None:
    if path is None or path == "-":
        stream = binary_stream(sys.stdout)
        stream.write(data)
        stream.flush()
        return
    write_atomically(path, data)


@collector.paused  # one command: the cycle collector would only re-walk its graph
def main(argv=None) -> None:
    """Entry point: Click's usage errors are exit 2 too, and JSON under --json; Ctrl-C, a
    closed pipe and running out of memory are one line each, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    _closed_streams_failing()
    _utf8_output()
    with _stopped_by_signals():
        ended = _run(args)
    if ended is MemoryError:
        # said here, out of the handler: the frames that held the memory are gone now
        _RESERVE.clear()
        _fail(OutOfMemory("out of memory: the input needs more memory than this machine "
                          "has"), args, 2)


# Freed when memory runs out, so that the message can still be made and printed (zeros
# from calloc: no resident memory until then).
_RESERVE = bytearray(1 << 22)


def _run(args: list):
    """The command, and every way it can end but running out of memory (returned)."""
    try:
        try:
            check_arguments(args)
            cli.main(args=args, prog_name="gradcalc", standalone_mode=False)
        finally:
            sys.stdout.flush()  # output still buffered meets a closed pipe here
    except GradcalcError as exc:  # arguments that are not UTF-8
        _fail(exc, args, 2)
    except _NO_ARGUMENTS as exc:  # `gradcalc` alone: the help, as Click shows it
        click.echo(exc.ctx.get_help(), err=True)
        sys.exit(2)
    except click.ClickException as exc:  # a bad option or command, said as our errors are
        message = exc.format_message().rstrip(".")
        context = getattr(exc, "ctx", None)
        _fail(UsageError(message[:1].lower() + message[1:],
                         hint=f"see `{context.command_path if context else 'gradcalc'} "
                              "--help`"), args, 2)
    except (click.exceptions.Abort, _Interrupted, KeyboardInterrupt):
        _fail(Interrupted("interrupted"), args, 130)
    except _Terminated as stop:
        _fail(Interrupted(f"terminated ({stop.name})"), args, 128 + stop.number)
    except (_OutputClosed, BrokenPipeError):  # the reader has all it wanted: not an error
        _discard_stdout()
        sys.exit(0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except MemoryError:
        return MemoryError
    except OSError as exc:  # a write refused: a full disk, a closed standard output
        _discard_stdout()  # (every read is checked where it happens)
        click.echo(f"error: cannot write the output: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last resort: a bug, said in one line
        if os.environ.get("GRADCALC_DEBUG"):
            raise
        _fail(InternalError(f"internal error ({type(exc).__name__}: {exc}); this is a bug, "
                            "please report it with the command that caused it "
                            "(GRADCALC_DEBUG=1 shows the traceback)"), args, 70)


def _fail(error: GradcalcError, args: list, code: int) -> None:
    """End with `error`: its JSON object on standard output under --json, its message
    on standard error, exit code `code`."""
    if "--json" in args:
        try:
            click.echo(render.dumps(error.to_json()))
        except OSError:  # standard output is what failed: the message still goes out
            _discard_stdout()
    click.echo(error.format(), err=True)
    sys.exit(code)


_NO_ARGUMENTS = getattr(click.exceptions, "NoArgsIsHelpError", ())  # Click 8.2 and later


def _utf8_output() -> None:
    """Output is UTF-8 whatever the locale says (JSON must be, RFC 8259 §8.1), so that a
    ∂ or a σ cannot fail to print under LANG=C on an old system or PYTHONIOENCODING=ascii."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")


def _closed_streams_failing() -> None:
    """A standard stream closed by the caller (`>&-`) is None in Python: output is
    refused as the system refuses it (EBADF, said in one line by main), a closed
    standard input reads as empty (nothing arrives), and a closed standard error leaves
    only the exit code to speak."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - for the process
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedOutput()), encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process


class _ClosedOutput(io.RawIOBase):
    """Standard output when there is none: writing fails, until the failure has been
    reported (then what is left is dropped, as on /dev/null)."""

    reported = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if not self.reported:
            raise OSError(errno.EBADF, "standard output is closed")
        return len(data)


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush of what is still
    buffered does not fail again on the closed pipe."""
    raw = getattr(getattr(sys.stdout, "buffer", None), "raw", None)
    if isinstance(raw, _ClosedOutput):
        raw.reported = True
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file descriptor (a test's captured stream)
