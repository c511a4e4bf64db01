"""gradcalc: values and gradients of every node of a computational graph.

    >>> import gradcalc
    >>> r = gradcalc.evaluate("(x+y)*z", x=-2, y=5, z=-4)
    >>> r.value, r.gradients["x"]
    (-12.0, -4.0)
"""
__version__ = "0.1.0"

from .api import Circuit, Result, compile, evaluate  # noqa: E402
from .columns import batch  # noqa: E402
from .autograder import check, grade  # noqa: E402
from .limits import Limits  # noqa: E402
from .errors import (ArityError, BindingError, DomainError, GradcalcError,  # noqa: E402
                     LimitError, ParseError, ShapeError, StrictError, UndefinedNameError,
                     UsageError)



def load_ipython_extension(ipython) -> None:
    """`%load_ext gradcalc` in IPython or Jupyter: the %gradcalc magics (gradcalc.magics)."""
    from .magics import load_ipython_extension as load

    load(ipython)


__all__ = ["evaluate", "compile", "batch", "check", "grade", "Circuit", "Result", "Limits", "GradcalcError",
           "ParseError", "UndefinedNameError", "ArityError", "BindingError", "DomainError",
           "ShapeError", "LimitError", "StrictError", "UsageError", "__version__"]
