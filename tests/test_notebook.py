"""gradcalc in Jupyter: the rich display of a Result (and of a check report and grades),
and the %gradcalc / %%gradcalc magics.

The HTML is read back with the standard library's HTML parser and its cells compared
with the CS231n lecture's published numbers (∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3) and with
numpy's own matrix product for ∂/∂W of sum((Wv)²) = 2(Wv)vᵀ. A notebook
(tests/notebooks/homework.ipynb) is executed by a real kernel (nbclient, ipykernel) and
its outputs checked.
"""
import html.parser
import json
import os
import pathlib
import shutil

import numpy as np
import pytest

import gradcalc
from gradcalc import magics

needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed")
NOTEBOOK = pathlib.Path(__file__).parent / "notebooks" / "homework.ipynb"


class Tables(html.parser.HTMLParser):
    """Every <table>'s rows as lists of cell texts (a <br> as a newline), the <tr>
    classes, and the text of every <p>."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.classes, self.paragraphs = [], [], []
        self._cell = self._paragraph = None
        self.svg = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
            self.classes.append(dict(attrs).get("class"))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "p":
            self._paragraph = []
        elif tag == "svg":
            self.svg += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p":
            self.paragraphs.append("".join(self._paragraph))
            self._paragraph = None

    def handle_data(self, data):
        for part in (self._cell, self._paragraph):
            if part is not None:
                part.append(data)


def lecture_html() -> Tables:
    return Tables(gradcalc.evaluate("q = x + y; f = q * z", x=-2, y=5, z=-4)._repr_html_())


def test_html_table_has_the_lectures_numbers():
    tables = lecture_html()
    header, *rows = tables.rows
    assert header == ["#", "node", "op", "value", "local gradients", "∂f/∂node"]
    by_node = {row[1]: row for row in rows}
    assert [by_node[f"{n} (input)"][-1] for n in "xyz"] == ["-4", "-4", "3"]
    assert by_node["q"][3] == "3" and by_node["f (output)"][3] == "-12"
    assert by_node["f (output)"][4] == "∂/∂q = -4\n∂/∂z = 3"  # the swap: ∂f/∂q = z
    assert by_node["f (output)"][2] == "mul *\nswaps and scales"  # the gate's pattern
    assert by_node["q"][2] == "add +\ndistributes"
    assert tables.classes[1:] == ["input", "input", "input", "gate", "output"]
    assert "f = -12   ∂f/∂x = -4   ∂f/∂y = -4   ∂f/∂z = 3" in tables.paragraphs


def test_html_shows_warnings():
    r = gradcalc.evaluate("max(x, y)*w", x=1, y=1, w=2)
    tables = Tables(r._repr_html_())
    warnings = [p for p in tables.paragraphs if p.startswith("warning:")]
    assert len(warnings) == 1 and "tie" in warnings[0]
    # the tie splits the gradient: ∂f/∂x = ∂f/∂y = w/2 = 1
    rows = {row[1]: row for row in tables.rows[1:]}
    assert rows["x (input)"][-1] == rows["y (input)"][-1] == "1"


def test_html_of_matrices_matches_numpy():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([1.0, -1.0])
    r = gradcalc.evaluate("sum((W@v)^2)", W=W, v=v)
    rows = {row[1]: row for row in Tables(r._repr_html_()).rows[1:]}
    expected = 2 * np.outer(W @ v, v)  # d/dW of ‖Wv‖² is 2(Wv)vᵀ
    shown = json.loads(rows["W (input)"][-1].replace("\n", ""))
    assert np.array_equal(shown, expected)
    assert rows["W (input)"][3] == "2×2"


def test_repr_is_one_short_line():
    r = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)
    assert repr(r) == "<gradcalc.Result f = -12   ∂f/∂x = -4   ∂f/∂y = -4   ∂f/∂z = 3  (5 nodes)>"
    warned = gradcalc.evaluate("max(x, y)", x=1, y=1)
    assert repr(warned).endswith("(3 nodes, 1 warning)>")


@needs_dot
def test_mimebundle_adds_the_graph_as_svg():
    bundle = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)._repr_mimebundle_()
    assert sorted(bundle) == ["image/svg+xml", "text/html", "text/latex", "text/plain"]
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert Tables(bundle["text/html"]).svg == 1  # inside the HTML too: Jupyter shows one type
    assert r"\begin{tabular}" in bundle["text/latex"]


def test_mimebundle_without_graphviz_has_no_svg(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bundle = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and Tables(bundle["text/html"]).svg == 0


def test_check_report_and_grades_show_their_tables():
    report = gradcalc.check("(x+y)*z", {"x": -2, "y": 5, "z": -4}, expect={"x": -4, "z": 2})
    assert repr(report) == ("<gradcalc.checking.Report f = -12   gradients: 3 pass; "
                            "answers: 1 right, 1 wrong · check FAILED>")
    page = report._repr_html_()
    assert "∂f/∂z" in page and "FAIL" in page and "check FAILED" in page
    grades = gradcalc.grade("q = x + y; f = q * z",
                            [{"x": -2, "y": 5, "z": -4, "grad(x)": -4, "value": -12},
                             {"x": -2, "y": 5, "z": -4, "grad(x)": 4, "value": -12}])
    assert repr(grades) == "<gradcalc.grading.Grades mean score 1.50 of 2 answers · 2 students>"
    assert "item analysis: 2 students" in grades._repr_html_()


# -- the magics, without a kernel ------------------------------------------------------

def magic(line, cell=None, namespace=None):
    shown = []
    return magics.run_magic(line, cell, namespace or {}, shown.append), shown


def test_line_magic_returns_the_result():
    result, shown = magic("(x+y)*z x=-2 y=5 z=-4")
    assert result.gradients == {"x": -4.0, "y": -4.0, "z": 3.0} and shown == []


def test_cell_magic_takes_the_cell_as_the_program_and_shows_steps():
    result, shown = magic("x=-2 y=5 z=-4 --steps", "q = x + y\nf = q * z")
    assert result.gradients == {"x": -4.0, "y": -4.0, "z": 3.0}
    (steps,) = shown
    assert steps._repr_latex_().startswith(r"\begin{align*}")
    assert r"= 1 \cdot (-4) = -4" in steps._repr_latex_()
    assert "∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · (-4) = -4" in repr(steps)


def test_notebook_variables_bind_by_name_and_from_the_namespace():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([1.0, -1.0])
    namespace = {"W": W, "v": v, "np": np}
    expected = 2 * np.outer(W @ v, v)
    by_name, _ = magic("sum((W@v)^2) W=$W v=$v", namespace=namespace)
    assert np.array_equal(by_name.gradients["W"], expected)
    free, _ = magic("sum((W@v)^2) --namespace", namespace=namespace)
    assert np.array_equal(free.gradients["v"], 2 * W.T @ (W @ v))
    document, _ = magic("sum((W@v)^2) v=[1,-1] W=$W --json", namespace=namespace)
    assert document["gradients"]["W"] == expected.tolist()


@needs_dot
def test_graph_option_shows_the_picture():
    result, shown = magic("(x+y)*z x=-2 y=5 z=-4 --graph")
    (picture,) = shown
    assert "<svg" in picture._repr_svg_() and result.value == -12


@pytest.mark.parametrize("line, message", [
    ("(x+y)*z x=1 y=2 z=3 --bogus", "unknown option --bogus"),
    ("x*y x=$nope y=1", "$nope is not a variable of the notebook"),
    ("x*y x=$np y=1", "$np is a module, not a number or an array"),
    ("x=1", "there is no expression"),
    ("x --wrt", "--wrt needs a value"),
])
def test_magic_mistakes_are_one_clear_message(line, message):
    with pytest.raises(gradcalc.GradcalcError) as caught:
        magic(line, namespace={"np": np})
    assert message in caught.value.format()


# -- a real kernel ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def executed():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def outputs(cell, kind):
    return [o for o in cell.outputs if o.output_type == kind]


def test_notebook_result_displays_the_table_and_the_graph(executed):
    (shown,) = outputs(executed[0], "execute_result")
    rows = {row[1]: row for row in Tables(shown.data["text/html"]).rows[1:]}
    assert [rows[f"{n} (input)"][-1] for n in "xyz"] == ["-4", "-4", "3"]
    if shutil.which("dot") or os.environ.get("CI"):
        assert "<svg" in shown.data["image/svg+xml"]


def test_notebook_magics(executed):
    assert executed[1].outputs == []  # %load_ext gradcalc: silent
    (line,) = outputs(executed[2], "execute_result")
    assert line.data["text/plain"].startswith("<gradcalc.Result f = -12   ∂f/∂x = -4")
    steps, result = executed[3].outputs
    assert steps.output_type == "display_data"
    assert r"\frac{\partial f}{\partial q} &= " in steps.data["text/latex"]
    assert result.data["text/plain"].startswith("<gradcalc.Result f = -12")
    (by_name,) = outputs(executed[4], "execute_result")
    assert by_name.data["text/plain"] == "[[-2.0, 2.0], [-2.0, 2.0]]"  # 2(Wv)vᵀ
    (document,) = outputs(executed[5], "execute_result")
    assert "'v': [-8.0, -12.0]" in document.data["text/plain"]  # 2Wᵀ(Wv)
    (warned,) = outputs(executed[6], "execute_result")
    assert "tie" in warned.data["text/html"]
    (error,) = executed[7].outputs
    assert error.name == "stderr" and error.text.startswith("error: missing ')'")
    (report,) = outputs(executed[8], "execute_result")
    assert "check passed" in report.data["text/html"]
    assert not any(outputs(cell, "error") for cell in executed)
