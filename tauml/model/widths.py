"""Layer widths of the DeepTau sub-networks: formulas such as ``"2*n*(1+drop)"`` and the width sequence rule.

A formula may hold numbers, ``n`` (the number of inputs of the sub-network), ``drop`` (its dropout rate),
``+ - * /`` and parentheses. It is parsed with :mod:`ast` and evaluated node by node: nothing else (names,
calls, attributes, powers) is accepted, and nothing is ever passed to ``eval``.
"""
from __future__ import annotations

import ast
import math
import operator

from ..core.errors import TaumlError

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.AST, names: dict[str, float], formula: str) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names, formula)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left, names, formula), _evaluate(node.right, names, formula)
        if isinstance(node.op, ast.Div) and right == 0:
            raise TaumlError(f"layer width '{formula}': division by zero")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, names, formula))
    what = ast.unparse(node) if not isinstance(node, ast.Expression) else formula
    raise TaumlError(f"layer width '{formula}': '{what}' is not allowed (numbers, n, drop, + - * / and "
                     "parentheses only)")


def layer_width(width: int | str, n_inputs: int, dropout_rate: float) -> int:
    """Units of a layer: an integer as is, a formula in ``n`` and ``drop`` rounded up."""
    if isinstance(width, bool) or not isinstance(width, (int, str)):
        raise TaumlError(f"layer width {width!r}: expected an integer or a formula in n and drop")
    if isinstance(width, int):
        value = width
    else:
        try:
            tree = ast.parse(width.strip(), mode="eval")
        except SyntaxError:
            raise TaumlError(f"layer width '{width}': not a formula (numbers, n, drop, + - * / and "
                             "parentheses)") from None
        value = math.ceil(_evaluate(tree, {"n": n_inputs, "drop": dropout_rate}, width))
    if value < 1:
        raise TaumlError(f"layer width {width!r} gives {value} units for n = {n_inputs}: need at least 1")
    return value


def layer_sizes(first: int, last: int, reduction_rate: float | None, min_n_layers: int | None = None,
                max_n_layers: int | None = None) -> list[int]:
    """The original's sequence: ``first``, then ``max(last, int(w / reduction_rate))`` while above ``last``;
    ``min_n_layers`` pads with ``last``, the layer number ``max_n_layers`` jumps straight to ``last``."""
    if first > last and (reduction_rate is None or reduction_rate <= 1):
        raise TaumlError(f"layer widths {first} -> {last} need a reduction_rate > 1 (got {reduction_rate})")
    sizes, size, n = [], first, 1
    while True:
        sizes.append(size)
        n += 1
        if size > last:
            size = last if n == max_n_layers else max(last, int(size / reduction_rate))
        elif min_n_layers is None or n > min_n_layers:
            return sizes
