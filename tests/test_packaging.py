"""The grammar and the JSON Schemas must reach the installed package: a wheel without its
data files is the classic failure."""
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_grammar_is_package_data_of_the_installed_package():
    grammar = resources.files("gradcalc.grammar").joinpath("gradcalc.lark")
    assert grammar.is_file()
    assert "program:" in grammar.read_text(encoding="utf-8")


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_built_wheel_contains_the_grammar(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    wheel = next(tmp_path.glob("gradcalc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "gradcalc/grammar/gradcalc.lark" in names
    assert "gradcalc/grammar/gradcalc.table.json" in names  # the parser's prebuilt table
    schemas = {f"gradcalc/schemas/{name}.schema.json"
               for name in ("eval", "check", "error", "functions", "batch-row")}
    assert schemas <= set(names), schemas - set(names)
    assert "gradcalc/cli.py" in names and "gradcalc/ops/__init__.py" in names
