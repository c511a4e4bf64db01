"""LaTeX for a write-up: `eval --format latex` (a booktabs tabular, --steps as align*) and
`graph --format tikz`.

The numbers are the CS231n lecture's published ones (∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3 at
x=-2, y=5, z=-4; the neuron's 0.73 and its gradients) or central differences; the TikZ
picture is compared with what Graphviz itself draws for the SVG (positions and label
texts from `dot -Tjson`). Every output is compiled by pdfLaTeX when one is installed
(CI installs it, .ci/run), and the PDF must have a page; without TeX the compile is
skipped and says so.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import gradcalc
from gradcalc import latex, picture

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed")
LECTURE = ["q = x + y; f = q * z", "x=-2", "y=5", "z=-4"]
NEURON = ["f = 1/(1+exp(-(w0*x0+w1*x1+w2)))", "w0=2", "x0=-1", "w1=-3", "x1=-2", "w2=-3"]


def gradcalc_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradcalc", *args], capture_output=True,
                          text=True, encoding="utf-8", cwd=cwd)


def latex_out(*args: str) -> str:
    done = gradcalc_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tabular_rows(text: str) -> list[list[str]]:
    """The body rows of the (outer) tabular, split at the top-level `&`s."""
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0]
    rows = []
    for line in body.strip().split("\n"):
        assert line.endswith(r" \\"), line
        rows.append([cell.strip() for cell in line[:-3].split(" & ")])
    return rows


def test_table_is_a_booktabs_tabular_with_the_lecture_numbers():
    text = latex_out("eval", *LECTURE, "--format", "latex")
    assert text.startswith("% \\usepackage{booktabs,amsmath}\n\\begin{tabular}{rllrlr}\n\\toprule")
    header = text.split(r"\toprule")[1].split(r"\midrule")[0].strip()
    assert header.split(" & ")[-1] == r"$\partial f/\partial \mathit{node}$ \\"
    rows = tabular_rows(text)
    assert [row[0] for row in rows] == ["$0$", "$1$", "$2$", "$3$", "$4$"]
    assert all(len(row) == 6 for row in rows)
    by_node = {row[1]: row for row in rows}
    # CS231n: ∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3, q = 3, f = -12
    assert by_node[r"\texttt{x (input)}"][-1] == "$-4$"
    assert by_node[r"\texttt{y (input)}"][-1] == "$-4$"
    assert by_node[r"\texttt{z (input)}"][-1] == "$3$"
    assert by_node[r"\texttt{q}"][3] == "$3$"
    assert by_node[r"\texttt{f (output)}"][3] == "$-12$"
    # local gradients of the multiply gate: ∂f/∂q = z = -4 and ∂f/∂z = q = 3, stacked
    assert by_node[r"\texttt{f (output)}"][4] == (
        r"\begin{tabular}[t]{@{}l@{}}$\partial /\partial q = -4$ \\ "
        r"$\partial /\partial z = 3$\end{tabular}")
    assert "swaps and scales" in by_node[r"\texttt{f (output)}"][2]
    assert r"\frac{\partial f}{\partial x} = -4" in text.split(r"\end{tabular}")[-1]


def test_steps_are_an_align_environment_in_the_lectures_form():
    text = latex_out("eval", *LECTURE, "--format", "latex", "--steps")
    steps = text.split(r"\begin{align*}")[1].split(r"\end{align*}")[0].strip().split(" \\\\\n")
    # one line per node that takes a gradient: f (upstream), q, z, y, x
    assert len(steps) == 5
    assert all(line.count("&=") == 1 for line in steps)
    assert steps[0] == (r"\frac{\partial f}{\partial f} &= 1 && \text{(the upstream gradient)}")
    # the lecture: ∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · (−4) = −4
    assert steps[1] == (r"\frac{\partial f}{\partial q} &= \frac{\partial f}{\partial f} \cdot "
                        r"\frac{\partial f}{\partial q} = 1 \cdot (-4) = -4")
    assert steps[4] == (r"\frac{\partial f}{\partial x} &= \frac{\partial f}{\partial q} \cdot "
                        r"\frac{\partial q}{\partial x} = -4 \cdot 1 = -4")


def test_steps_at_branches_and_in_the_matrix_form():
    text = latex_out("eval", "x*x", "x=3", "--format", "latex", "--steps")
    line = [s for s in text.split("\n") if s.startswith(r"\frac{\partial f}{\partial x}")][0]
    # d(x²)/dx = 2x = 6, as the two branches 3 + 3
    assert line == (r"\frac{\partial f}{\partial x} &= \frac{\partial f}{\partial f} \cdot "
                    r"\frac{\partial f}{\partial x} + \frac{\partial f}{\partial f} \cdot "
                    r"\frac{\partial f}{\partial x} = 1 \cdot 3 + 1 \cdot 3 = 6 && "
                    r"\text{(gradients add at branches: 2 edges)}")
    text = latex_out("eval", "sum((W@x)^2)", "W=[[1,2],[3,4]]", "x=[1,-1]", "--format",
                     "latex", "--steps")
    # ∂f/∂W = 2 (Wx) xᵀ with Wx = [-1, -1]: [[-2, 2], [-2, 2]]
    assert (r"\frac{\partial f}{\partial W} &= \partial f/\partial (W@x) \cdot "
            r"x^{\mathsf{T}} = [[-2, 2], [-2, 2]] && \text{(2$\times $2)}") in text


def test_math_writes_exponents_and_unicode_as_latex():
    assert latex.math("1.5e-07") == r"1.5\times 10^{-7}"
    assert latex.math("≈0.333") == r"\approx 0.333"
    assert latex.math("∂/∂my_w = inf") == r"\partial /\partial \mathit{my\_w} = \infty "
    assert latex.math("#3 ⊙ xᵀ") == r"\#3 \odot x^{\mathsf{T}}"


@given(st.text(max_size=40))
@example("𑃰")  # a decimal digit of another script, which \d matched
def test_math_and_text_are_ascii_with_balanced_braces(text):
    """Any program text (names, Unicode pasted from a PDF) becomes LaTeX that pdfLaTeX
    reads: ASCII only, every brace closed."""
    for converted in (latex.math(text), latex._text(text)):
        assert converted.isascii() and converted.isprintable()
        depth = 0
        for k, c in enumerate(converted):
            if c in "{}" and (k == 0 or converted[k - 1] != "\\"):
                depth += 1 if c == "{" else -1
                assert depth >= 0, converted
        assert depth == 0, converted


def test_values_are_the_central_differences():
    """The table's gradients for the neuron equal central differences of its value."""
    import math
    text = latex_out("eval", *NEURON, "--format", "latex", "--precision", "5")
    point = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)

    def f(p):
        return 1 / (1 + math.exp(-(p["w0"] * p["x0"] + p["w1"] * p["x1"] + p["w2"])))

    rows = {row[1]: row for row in tabular_rows(text)}
    for name in point:
        h = 1e-6
        up, down = dict(point), dict(point)
        up[name] += h
        down[name] -= h
        expected = (f(up) - f(down)) / (2 * h)
        shown = rows[rf"\texttt{{{name} (input)}}"][-1].strip("$")
        assert float(shown) == pytest.approx(expected, rel=1e-4)


# -- TikZ ---------------------------------------------------------------------------

def tikz_nodes(text: str) -> dict[str, tuple[float, float]]:
    return {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"\((\w+)\) at \(([-\d.]+),([-\d.]+)\)", text)}


def tikz_labels(text: str) -> dict[tuple[float, float], list[str]]:
    """Edge labels by place: the numbers in value (green) then gradient (red) order."""
    found = {}
    for m in re.finditer(r"at \(([-\d.]+),([-\d.]+)\) \{(\\textcolor\{gcvalue\}.*)\};", text):
        found[float(m.group(1)), float(m.group(2))] = re.findall(
            r"\\textcolor\{gc(?:value|grad)\}\{\$([^$]*)\$\}", m.group(3))
    return found


@needs_dot
@pytest.mark.parametrize("args", [["(x+y)*z", "x=-2", "y=5", "z=-4"], NEURON,
                                  ["x*x + max(x, y)^2", "x=3", "y=3"]])
def test_tikz_has_the_svgs_layout_and_labels(args):
    """Where Graphviz puts each node and edge label for the SVG, the TikZ picture puts the
    same node and the same numbers."""
    tikz = latex_out("graph", *args, "--format", "tikz")
    dot_text = latex_out("graph", *args, "--format", "dot")
    laid = json.loads(subprocess.run(["dot", "-Tjson"], input=dot_text.encode(),
                                     capture_output=True, check=True).stdout)
    nodes = tikz_nodes(tikz)
    objects = [o for o in laid["objects"] if "pos" in o]
    assert len(objects) == len(nodes)
    for o in objects:
        x, y = map(float, o["pos"].split(","))
        assert nodes[o["name"]] == pytest.approx((x, y), abs=0.06)
    labels = tikz_labels(tikz)
    drawn = [e for e in laid["edges"] if "lp" in e]
    assert len(drawn) == len(labels)
    for edge in drawn:
        place = tuple(round(float(v), 1) for v in edge["lp"].split(","))
        texts = [op["text"] for op in edge["_ldraw_"] if op["op"] == "T"]
        assert labels[place] == [t.replace("e-", r"\times 10^{-") for t in texts]


def test_tikz_without_graphviz_is_layered(monkeypatch):
    """No `dot`: inputs in the first column, the output's marker last, every edge drawn."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)
    text = latex.tikz(r.graph, r.run)
    nodes = tikz_nodes(text)
    assert nodes["n0"][0] == nodes["n1"][0] == nodes["n2"][0] == 0
    assert nodes["output"][0] > nodes["n4"][0] > nodes["n3"][0] > 0
    assert text.count(r"\draw[->") == len(picture.edges(r.graph, r.run))
    assert sorted(tikz_labels(text).values()) == sorted([["-2", "-4"], ["5", "-4"], ["-4", "3"],
                                                        ["3", "-4"], ["-12", "1"]])


def test_graph_dash_o_tex_writes_tikz(tmp_path):
    done = gradcalc_cli("graph", "(x+y)*z", "x=-2", "y=5", "z=-4", "-o", "circuit.tex",
                        cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "circuit.tex").read_text(encoding="utf-8").count(r"\begin{tikzpicture}") == 1


# -- compiled -----------------------------------------------------------------------

AWKWARD = [["my_w*x_1 + 2^-3", "my_w=1e-7", "x_1=3"],
           ["a = x·y; b = max(a, 0); b²", "x=2", "y=3"],
           ["(x+y)*z", "x=1/3", "y=5", "z=-4", "--exact"],
           ["relu(W@x + b)", "W=[[1,-2],[3,4]]", "x=[1,2]", "b=[0.5,-1]", "--upstream=[1,1]"],
           [" + ".join(f"x*{k}" for k in range(1, 25)), "x=2"]]  # past 40 rows: a "…" row


# --symbolic: formulas in SymPy's LaTeX (σ, tanh, max, Heaviside's θ, Piecewise's cases)
SYMBOLIC = [["eval", "sigmoid(w*x + b)", "w=2", "x=-1", "b=-3"],
            ["eval", "max(z, w) * relu(x) + abs(y) + tanh(x)"],
            ["eval", "q = x*y; where(q > 1, q, -q) + (x == y) + softplus(x)", "x=1", "y=2"],
            ["graph", "max(z, w) * relu(x)"],
            ["graph", "sigmoid(w*x + b)", "w=2", "x=-1", "b=-3"]]


def document(pieces: list[str]) -> str:
    return "\n".join([r"\documentclass{article}", latex.PREAMBLE_TABLE,
                      latex.PREAMBLE_FORMULAS, latex.PREAMBLE_TIKZ,
                      r"\begin{document}", *pieces, r"\end{document}"])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every output (the lecture's, the neuron's, awkward names and numbers) in one
    document, compiled; None when no TeX engine is installed."""
    pieces = []
    for args in [LECTURE, NEURON, *AWKWARD]:
        expression, rest = args[0], args[1:]
        pieces.append(latex_out("eval", expression, *rest, "--format", "latex", "--steps"))
        graph_args = [a for a in rest if a != "--exact"]
        pieces.append(latex_out("graph", expression, *graph_args, "--format", "tikz"))
    for command, *args in SYMBOLIC:
        pieces.append(latex_out(command, *args, "--symbolic", "--format",
                                "latex" if command == "eval" else "tikz"))
    tex = document(pieces)
    engine = shutil.which("pdflatex")
    if engine is None:
        return tex, None
    where = tmp_path_factory.mktemp("tex")
    (where / "write-up.tex").write_text(tex, encoding="utf-8")
    done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error",
                           "write-up.tex"], cwd=where, capture_output=True, text=True,
                          errors="replace")
    assert done.returncode == 0, done.stdout[-3000:]
    pages = re.search(r"Output written on write-up\.pdf \((\d+) pages?", done.stdout)
    return tex, ((where / "write-up.pdf").read_bytes(), int(pages.group(1)) if pages else 0)


def test_the_latex_compiles_to_pages(compiled):
    tex, pdf = compiled
    assert len(re.findall(r"^\\begin\{tabular\}\{r", tex, re.M)) == 7
    assert len(re.findall(r"^\\sbox0\{\\begin\{tabular\}\{r", tex, re.M)) == 3  # --symbolic
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}") == 7 + 3
    assert tex.count(r"\begin{tikzpicture}") == tex.count(r"\end{tikzpicture}") == 7 + 2
    assert r"\sigma{\left(b + w x \right)}" in tex and r"\begin{cases}" in tex
    assert r"\multicolumn{6}{l}{\ldots\ " in tex
    assert not re.search(r"[^\x00-\x7f]", tex), "pdfLaTeX without packages reads ASCII only"
    if pdf is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs pdfLaTeX (.ci/run), and it is missing")
        pytest.skip("no TeX engine (pdflatex) installed: the structure was checked, the "
                    "compile skipped")
    data, pages = pdf
    assert data.startswith(b"%PDF")
    assert pages >= 1  # as pdfLaTeX counts them
