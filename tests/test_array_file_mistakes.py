"""Array files given the way a newcomer may try first: one .npy to --bindings. The
message says what --bindings takes, and the fix it gives computes numpy's answer."""
import json

import numpy as np
from click.testing import CliRunner

from gradcalc.cli import cli


def test_one_npy_given_to_bindings_says_to_bind_it_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.array([1.5, -2.0, 0.25])
    np.save("x.npy", x)
    ran = CliRunner().invoke(cli, ["eval", "sum(x*x)", "--bindings", "x.npy"])
    assert ran.exit_code == 2
    assert ran.stderr == ("error: --bindings takes a JSON object or an .npz archive of named "
                          "arrays, and x.npy holds one array without a name\n"
                          "hint: bind it by its name: NAME=@x.npy\n")
    ran = CliRunner().invoke(cli, ["eval", "sum(x*x)", "x=@x.npy", "--json"])
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["value"] == float(np.sum(x * x))
    assert report["gradients"]["x"] == (2 * x).tolist()
