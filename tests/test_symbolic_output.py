"""eval --symbolic --format latex|markdown and graph --symbolic, against SymPy's own
derivatives of the same expressions (read back from the output, or SymPy's LaTeX of them)."""
import re
import shutil
import subprocess

import pytest
import sympy
from sympy.parsing.latex import parse_latex

from gradcalc.symbolic import sigmoid

X, Y, Z, W, B = (sympy.Symbol(n, real=True) for n in "xyzwb")
NAMES = {"x": X, "y": Y, "z": Z, "w": W, "b": B}


def run(*args):
    done = subprocess.run(["gradcalc", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _read_latex(tex):
    """SymPy's LaTeX read back by SymPy's own parser (its lark grammar). \\left and
    \\right only size brackets; where the grammar reads `y (a + b)` two ways, the product is
    meant, not a function y applied; e is Euler's number."""
    from sympy.core.function import AppliedUndef

    parsed = parse_latex(tex.replace(r"\left", "").replace(r"\right", ""), backend="lark")
    readings = parsed.children if getattr(parsed, "data", None) == "_ambig" else [parsed]
    products = [r for r in readings if isinstance(r, sympy.Basic) and not r.atoms(AppliedUndef)
                and not r.atoms(sympy.Rel)]
    assert products, readings
    return _real(products[0].subs(sympy.Symbol("e"), sympy.E))


def _real(expression):
    return expression.subs({sympy.Symbol(n): s for n, s in NAMES.items()})


@pytest.mark.parametrize("source,expected", [
    ("(x+y)*z", (X + Y) * Z),
    ("x^3*y + exp(x*y)/z", X ** 3 * Y + sympy.exp(X * Y) / Z),
    ("sin(x)*cos(y) + log(z)", sympy.sin(X) * sympy.cos(Y) + sympy.log(Z)),
])
def test_latex_gradients_read_back_are_sympys_derivatives(source, expected):
    tex = run("eval", source, "--symbolic", "--format", "latex")
    for name in sorted({s.name for s in expected.free_symbols}):
        found = re.search(rf"\\frac{{\\partial f}}{{\\partial {name}}} &= (.*?)(?: \\\\)?$",
                          tex, re.M)
        ours = _read_latex(found.group(1))
        assert sympy.simplify(ours - sympy.diff(expected, NAMES[name])) == 0, (name, ours)


def test_latex_sigmoid_is_sympys_latex_of_its_derivative():
    # the lecture's neuron: ∂f/∂w = x σ(1 − σ), σ printed as SymPy prints a function sigma
    tex = run("eval", "sigmoid(w*x + b)", "w=2", "x=-1", "b=-3", "--symbolic",
              "--format", "latex")
    sigma = sympy.Function("sigma")(B + W * X)
    found = re.search(r"\\frac{\\partial f}{\\partial w} &= (.*) = (.*) \\\\$", tex, re.M)
    candidates = {sympy.latex(e) for e in (X * sigma * (1 - sigma),
                                           sympy.factor_terms(X * sigma * (1 - sigma)))}
    assert found.group(1) in candidates
    exact = sympy.diff(1 / (1 + sympy.exp(-(W * X + B))), W).subs({W: 2, X: -1, B: -3})
    assert float(found.group(2)) == pytest.approx(float(exact), rel=1e-5)
    assert r"\max" in run("eval", "max(z, w)", "--symbolic", "--format", "latex")
    assert r"\tanh" in run("eval", "tanh(x)", "--symbolic", "--format", "latex")


def test_markdown_code_spans_read_back_are_sympys_derivatives():
    md = run("eval", "max(z, w) * x^2", "--symbolic", "--format", "markdown", "z=1", "w=2",
             "x=3")
    expected = sympy.Max(Z, W) * X ** 2
    for name in "zwx":
        line = re.search(rf"^- ∂f/∂{name} = `(.*)` = (\S+)$", md, re.M)
        ours = _real(sympy.sympify(line.group(1)))
        at = {Z: 1, W: 2, X: 3}
        assert float(ours.subs(at)) == pytest.approx(
            float(sympy.diff(expected, NAMES[name]).subs(at)))
        assert float(line.group(2)) == pytest.approx(float(ours.subs(at)))
    assert md.splitlines()[0] == "| # | node | formula | local gradients | ∂f/∂node |"


def _read(text):
    """A picture's formula read back by sympify (· and ^ put back as * and **)."""
    text = text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    return _real(sympy.sympify(text.replace("·", "*").replace("^", "**"),
                               locals={"sigmoid": sigmoid}))


def _labels(dot_text):
    """Per DOT node: (its first line, its value's formula or None, its ∂f/∂node formula),
    read back from the coloured lines of its label."""
    found = []
    for head, body in re.findall(r'^  n\d+ \[shape=\w+, label=<([^<]+)(.*)>, tooltip', dot_text,
                                 re.M):
        lines = re.findall(r'<font point-size="10" color="([^"]+)">(.*?)</font>', body)
        value = " ".join(t for colour, t in lines if colour == "#1a7f37")
        grad = " ".join(t for colour, t in lines if colour == "#cf222e")
        found.append((head, _read(value) if value else None,
                      _read(grad.split(" = ", 1)[1]) if grad else None))
    return found


def _equal(ours, theirs):
    ours = ours.replace(sigmoid, lambda a: 1 / (1 + sympy.exp(-a)))
    return sympy.simplify((ours - theirs).rewrite(sympy.exp)) == 0


@pytest.mark.parametrize("source,expected", [
    ("q = x + y; f = q * z", (X + Y) * Z),
    ("sigmoid(w*x + b)", 1 / (1 + sympy.exp(-(W * X + B)))),
    ("x^2*y + tanh(x*y)*z + 1/(x^2 + y^2 + 1)", X ** 2 * Y + sympy.tanh(X * Y) * Z
     + 1 / (X ** 2 + Y ** 2 + 1)),
])
def test_graph_labels_hold_sympys_derivatives(source, expected):
    labels = _labels(run("graph", source, "--symbolic", "--format", "dot"))
    inputs = {head: grad for head, value, grad in labels if head in NAMES}
    assert set(inputs) == {s.name for s in expected.free_symbols}
    for name, ours in inputs.items():
        assert _equal(ours, sympy.diff(expected, NAMES[name])), (name, ours)
    _, value, grad = labels[-1]  # the output, last in forward order
    assert grad == 1 and _equal(value, expected)


def test_graph_symbolic_with_bindings_keeps_the_numbers_on_the_edges():
    dot = run("graph", "(x+y)*z", "x=-2", "y=5", "z=-4", "--symbolic")
    assert '<font color="#1a7f37">3</font><br/><font color="#cf222e">-4</font>' in dot
    assert "∂f/∂z = x + y" in dot
    assert "∂f/∂x = z" in run("graph", "(x+y)*z", "--symbolic", "--format", "mermaid")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_symbolic_draws_png_and_svg(tmp_path):
    for suffix in ("png", "svg"):
        run("graph", "sigmoid(w*x + b)", "--symbolic", "-o", str(tmp_path / f"n.{suffix}"))
    assert (tmp_path / "n.png").read_bytes().startswith(b"\x89PNG")
    svg = (tmp_path / "n.svg").read_text(encoding="utf-8").replace("&#45;", "-")
    assert "∂f/∂w = x·(1 - sigmoid(b + w·x))·sigmoid(b + w·x)" in svg


def test_graph_symbolic_refuses_upstream():
    done = subprocess.run(["gradcalc", "graph", "x*y", "x=1", "y=2", "--symbolic",
                           "--upstream", "2"], capture_output=True, text=True)
    assert done.returncode == 2 and "--upstream" in done.stderr


def test_latex_chain_rule_ends_in_sympys_derivative():
    tex = run("eval", "q = x + y; f = q * z - exp(x)", "--symbolic", "--format", "latex",
              "--steps")
    steps = tex.split(r"\begin{align*}")[-1]
    expected = (X + Y) * Z - sympy.exp(X)
    for name in "xyz":
        line = re.search(rf"^\\frac{{\\partial f}}{{\\partial {name}}} &= .* = (.*?)"
                         r"(?: && \\text\{.*\})?(?: \\\\)?$", steps, re.M)
        assert sympy.simplify(_read_latex(line.group(1))
                              - sympy.diff(expected, NAMES[name])) == 0, line.group(0)
