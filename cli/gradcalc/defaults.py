"""The defaults of `gradcalc check` and `gradcalc graph` that their --help shows.

They live apart from gradcalc.checking and gradcalc.picture so that the command line can
name them without importing those modules, which only their own commands need.
"""

# h = 1e-5: the error of a central difference is about h²·|f'''|/6 (truncation) plus
# eps·|f|/h (rounding), smallest near h = (3·eps)^(1/3) ≈ 1e-5 for quantities of order 1,
# where it is about 1e-10: four orders below the default tolerance. CS231n uses 1e-5 too.
CHECK_STEP = 1e-5
CHECK_TOLERANCE = 1e-6

GRAPH_FORMATS = ("dot", "mermaid", "tikz", "svg", "png")
# Past this many nodes a picture is a hairball and Graphviz's layout gets slow; the
# numbers are better read from `gradcalc eval` or its JSON (--max-nodes raises the limit).
GRAPH_MAX_NODES = 150
