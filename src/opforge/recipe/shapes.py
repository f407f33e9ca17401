"""Output shape rules of kernel ops.

    like(a)            the shape of input a
    broadcast(a, b)    numpy broadcasting of inputs a and b
    [a[0], b[-1], 4]   explicit dims: a dim of an input (negative counts from the end) or a
                       literal size
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[a-z][a-z0-9_]*"


@dataclass(frozen=True)
class Dim:
    """One explicit output dim: `input[index]` or a literal `size`."""

    input: str | None = None
    index: int = 0
    size: int = 0

    def __str__(self) -> str:
        return f"{self.input}[{self.index}]" if self.input else str(self.size)


@dataclass(frozen=True)
class ShapeRule:
    kind: str  # "like" | "broadcast" | "dims"
    args: tuple[str, ...] = ()
    dims: tuple[Dim, ...] = ()

    def inputs(self) -> tuple[str, ...]:
        if self.kind == "dims":
            return tuple(d.input for d in self.dims if d.input)
        return self.args

    def __str__(self) -> str:
        if self.kind == "dims":
            return "[" + ", ".join(str(d) for d in self.dims) + "]"
        return f"{self.kind}({', '.join(self.args)})"


class ShapeRuleError(ValueError):
    pass


def parse(text: str) -> ShapeRule:
    s = text.strip()
    if m := re.fullmatch(rf"like\(\s*({_NAME})\s*\)", s):
        return ShapeRule("like", (m[1],))
    if m := re.fullmatch(rf"broadcast\(\s*({_NAME})\s*,\s*({_NAME})\s*\)", s):
        return ShapeRule("broadcast", (m[1], m[2]))
    if m := re.fullmatch(r"\[(.*)\]", s):
        dims = []
        for part in (p.strip() for p in m[1].split(",")) if m[1].strip() else ():
            if d := re.fullmatch(rf"({_NAME})\[\s*(-?\d+)\s*\]", part):
                dims.append(Dim(input=d[1], index=int(d[2])))
            elif re.fullmatch(r"\d+", part):
                dims.append(Dim(size=int(part)))
            else:
                raise ShapeRuleError(f"dim {part!r} is neither input[index] nor a size")
        return ShapeRule("dims", dims=tuple(dims))
    raise ShapeRuleError(f"{text!r} is not a shape rule; use like(x), broadcast(x, y) or "
                         f"[x[0], y[-1], 4]")


def evaluate(rule: ShapeRule, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The output shape for concrete input shapes (the reference the generated C++ follows)."""
    if rule.kind == "like":
        return shapes[rule.args[0]]
    if rule.kind == "broadcast":
        a, b = shapes[rule.args[0]], shapes[rule.args[1]]
        n = max(len(a), len(b))
        a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
        out = []
        for x, y in zip(a, b):
            if x != y and 1 not in (x, y):
                raise ShapeRuleError(f"shapes {shapes[rule.args[0]]} and "
                                     f"{shapes[rule.args[1]]} do not broadcast")
            out.append(max(x, y) if 0 not in (x, y) else 0)
        return tuple(out)
    return tuple(shapes[d.input][d.index] if d.input else d.size for d in rule.dims)
