"""gradcalc never runs the text it is given as code: its own parser and engine evaluate
everything. This scans the package's source for the ways Python could be made to run
code or load objects: eval/exec/compile of text, dynamic imports, pickle-like loaders,
a shell. A new use must come with a reason, here, or not at all."""
import ast
from importlib import resources

import pytest

RUNS_CODE = {"eval", "exec", "compile", "__import__", "breakpoint"}
LOADS_OBJECTS = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                 "joblib", "runpy", "code", "codeop"}
CALLS = {("os", "system"), ("os", "popen"), ("builtins", "eval"), ("builtins", "exec"),
         ("importlib", "import_module"), ("yaml", "load"), ("yaml", "unsafe_load"),
         ("numpy", "load"), ("np", "load"), ("sympy", "sympify"), ("sympy", "parse_expr"),
         ("sympy", "S")}


def problems(source: str, module: str = "<snippet>") -> list[str]:
    """What in `source` could run code or load untrusted objects, one line per finding."""
    tree = ast.parse(source)
    # A module's own function of that name (gradcalc.compile) is not the built-in.
    own = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    found = []
    for node in ast.walk(tree):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in LOADS_OBJECTS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in LOADS_OBJECTS:
                found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in RUNS_CODE - own:
                found.append(f"{where}: {func.id}(...)")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                    (func.value.id, func.attr) in CALLS and not _refuses_pickles(node) \
                    and not _refuses_text(node):
                found.append(f"{where}: {func.value.id}.{func.attr}(...)")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                   and keyword.value.value is False):
                    found.append(f"{where}: a subprocess with shell=...")
    return found


def _refuses_pickles(call: ast.Call) -> bool:
    """np.load(..., allow_pickle=False) reads numbers only (the reason it is allowed: @FILE
    arrays and --bindings .npz); any other value of allow_pickle, or none, is a finding."""
    return any(keyword.arg == "allow_pickle" and isinstance(keyword.value, ast.Constant)
               and keyword.value.value is False for keyword in call.keywords)


def _refuses_text(call: ast.Call) -> bool:
    """sympy.sympify(..., strict=True) converts numbers only; without it a string is run
    through eval (the reason --symbolic's formulas never come from text)."""
    return isinstance(call.func, ast.Attribute) and call.func.attr == "sympify" and any(
        keyword.arg == "strict" and isinstance(keyword.value, ast.Constant)
        and keyword.value.value is True for keyword in call.keywords)


def package_sources():
    root = resources.files("gradcalc")
    pending = [root]
    while pending:
        folder = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name != "__pycache__":
                pending.append(entry)
            elif entry.name.endswith(".py"):
                yield entry


def test_the_package_runs_no_text_as_code():
    sources = list(package_sources())
    assert len(sources) >= 10  # the scan sees the package
    found = [p for source in sources for p in problems(source.read_text("utf-8"), source.name)]
    assert found == []


@pytest.mark.parametrize("snippet", [
    "eval(text)", "exec(text)", "compile(text, '<x>', 'eval')", "__import__(name)",
    "import pickle", "from pickle import loads", "import marshal", "import shelve",
    "os.system(command)", "builtins.eval(text)", "importlib.import_module(name)",
    "yaml.load(stream)", "subprocess.run(command, shell=True)", "np.load(path)",
    "np.load(path, allow_pickle=True)", "numpy.load(path, allow_pickle=flag)",
    "sympy.sympify(text)", "sympy.sympify(text, strict=flag)", "sympy.parse_expr(text)",
    "sympy.S(text)",
])
def test_the_scan_finds_each_way(snippet):
    assert problems(snippet), snippet


def test_the_packages_own_compile_is_allowed():
    assert problems("def compile(source):\n    return source\ncompile('x')") == []
    assert problems("import re\nre.compile('x')") == []
    assert problems("subprocess.run([dot, '-Tsvg'], input=data)") == []
    assert problems("np.load(handle, allow_pickle=False)") == []
    assert problems("sympy.sympify(number, strict=True)") == []
