"""--steps writes an op's matrix rule with its operands' names: an operand written as an
expression is parenthesized once, not inside the rule's own parentheses as well."""
import pytest


@pytest.mark.parametrize("source, rule", [
    ("L = cross_entropy(h @ W2, y)",
     "∂L/∂(h @ W2) = ∂L/∂L · (softmax(h @ W2) − onehot(y)) / N = "),
    ("L = sum(softmax(h @ W2, axis=1) * G)", "= ∂L/∂#"),
])
def test_an_operand_is_parenthesized_once(gradcalc_cli, source, rule):
    ran = gradcalc_cli("eval", source, "h=[[1, 2]]", "W2=[[1, 0], [0, 1]]", "y=[0]",
                       "G=[[1, 2]]", "--steps")
    assert ran.code == 0, ran.stderr
    steps = ran.stdout.split("Chain rule, backwards:")[1]
    assert rule in steps
    assert "((" not in steps
