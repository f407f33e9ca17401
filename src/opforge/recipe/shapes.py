"""Shape rules and input constraints: a small expression language, parsed here (never
evaluated as Python) into a tree that `evaluate` runs as opforge's reference and from which
the generated C++ of every framework is written.

The language, as the recipe reference (docs/recipe.md) shows it, is GRAMMAR below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DIMS = 8  # opforge::kMaxDims
MAX_SIZE = 2**31 - 1  # the most a TensorFlow shape function's literal takes
MAX_TEXT = 1000  # characters of one rule: rules are short, and parsing is recursive
MAX_DEPTH = 32  # nesting of parentheses and calls
INT64 = (-(2**63), 2**63 - 1)

GRAMMAR = """\
An output's `shape` is one of:

    like(x)              the shape of input x
    broadcast(x, y)      numpy broadcasting of inputs x and y
    a shape expression   lists of dims and slices of input shapes, joined by `+`:
        [x[0], k, 4]         explicit dims
        x[:-1] + [k]         x's shape with its last dim replaced by k (any rank)
        x[:-1]               ... with its last dim dropped
        x[:] + [2]           ... extended by a dim of 2
        [x[0], x[1]] + x[2:] slices take Python's [start:stop], either side may be left out

A dim is an integer expression over:

    x[i]       dim i of input x (negative counts from the end)
    k          an int attribute
    p[i]       element i of an int[] attribute (negative counts from the end)
    7          a literal size, below 2**31
    a + b, a - b, a * b, a // b (floor division), cdiv(a, b) (division rounding up),
    min(a, b), max(a, b), and parentheses

An output's first dim may instead be a data-dependent dim of the op (`dynamic_dims`), alone:
`[kept]`, `[kept, 4]`, `[kept] + x[1:]`; it takes the value the kernel reports.

Arithmetic is on 64-bit integers; division by zero, an overflow, an index that does not exist
or a negative output dim is an error of the op when it runs. An input's `shape` (the shape it
must have) uses the same forms; an op's `constraints` compare two dims with
`<`, `<=`, `==`, `!=`, `>=` or `>`, e.g. `k <= x[-1]`.
"""

FUNCTIONS = ("cdiv", "min", "max")
OPERATORS = ("+", "-", "*", "//")
RELATIONS = ("<", "<=", "==", "!=", ">=", ">")

_SPACE = " \t\r\n"  # ASCII only: no other character of a rule may be invisible
_TOKEN = re.compile(r"[ \t\r\n]*(?:(?P<int>[0-9]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|"
                    r"(?P<op>//|<=|>=|==|!=|[-+*/()\[\],:<>]))")


class ShapeRuleError(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    """The names a rule of one op may use: its inputs, int and int[] attributes, and (in
    output shapes only) its data-dependent dims."""

    inputs: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    dynamic: tuple[str, ...] = ()


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class InputDim:
    input: str
    index: int

    def __str__(self) -> str:
        return f"{self.input}[{self.index}]"


@dataclass(frozen=True)
class AttrValue:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class AttrItem:
    name: str
    index: int

    def __str__(self) -> str:
        return f"{self.name}[{self.index}]"


@dataclass(frozen=True)
class Dynamic:
    """A data-dependent dim (the op's `dynamic_dims`): known only once the kernel ran."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class BinOp:
    op: str  # one of OPERATORS or FUNCTIONS
    left: "Expr"
    right: "Expr"

    def __str__(self) -> str:
        if self.op in FUNCTIONS:
            return f"{self.op}({self.left}, {self.right})"
        return f"({self.left} {self.op} {self.right})"


Expr = Num | InputDim | AttrValue | AttrItem | Dynamic | BinOp


@dataclass(frozen=True)
class Dims:
    """An explicit list of dims."""

    exprs: tuple[Expr, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(bare(e) for e in self.exprs) + "]"


@dataclass(frozen=True)
class Slice:
    """input[start:stop] of an input's shape, Python's slice semantics."""

    input: str
    start: int | None
    stop: int | None

    def __str__(self) -> str:
        return (f"{self.input}[{'' if self.start is None else self.start}:"
                f"{'' if self.stop is None else self.stop}]")


@dataclass(frozen=True)
class ShapeRule:
    kind: str  # "like" | "broadcast" | "expr"
    args: tuple[str, ...] = ()
    parts: tuple[Dims | Slice, ...] = ()

    def inputs(self) -> tuple[str, ...]:
        if self.kind != "expr":
            return self.args
        names: list[str] = []
        for part in self.parts:
            for name in ([part.input] if isinstance(part, Slice) else
                         [n for e in part.exprs for n in inputs_of(e)]):
                if name not in names:
                    names.append(name)
        return tuple(names)

    def fixed_rank(self) -> int | None:
        """The number of dims when no slice makes it depend on an input's rank."""
        if self.kind != "expr" or any(isinstance(p, Slice) for p in self.parts):
            return None
        return sum(len(p.exprs) for p in self.parts)

    def dynamic_dim(self) -> str | None:
        """The data-dependent dim that is this shape's first dim, if one is."""
        first = self.parts[0] if self.kind == "expr" and self.parts else None
        if isinstance(first, Dims) and first.exprs and isinstance(first.exprs[0], Dynamic):
            return first.exprs[0].name
        return None

    def dynamic_elsewhere(self) -> list[str]:
        """Data-dependent dims used anywhere but as the whole first dim."""
        exprs = expressions(self)
        if self.dynamic_dim() is not None:
            exprs = exprs[1:]
        return [leaf.name for e in exprs for leaf in leaves(e) if isinstance(leaf, Dynamic)]

    def __str__(self) -> str:
        if self.kind == "expr":
            return " + ".join(str(p) for p in self.parts)
        return f"{self.kind}({', '.join(self.args)})"


@dataclass(frozen=True)
class Constraint:
    left: Expr
    relation: str
    right: Expr

    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*inputs_of(self.left), *inputs_of(self.right)]))

    def __str__(self) -> str:
        return f"{bare(self.left)} {self.relation} {bare(self.right)}"


def bare(e: Expr) -> str:
    text = str(e)
    return text[1:-1] if isinstance(e, BinOp) and e.op in OPERATORS else text


def inputs_of(e: Expr) -> list[str]:
    if isinstance(e, InputDim):
        return [e.input]
    if isinstance(e, BinOp):
        return inputs_of(e.left) + inputs_of(e.right)
    return []


def shrinking(e: Expr) -> Expr | None:
    """The part of `e` through which a larger input dim can make `e` smaller (an input dim
    right of `-` or in a divisor), or None: `e` never shrinks as input dims grow."""
    if not isinstance(e, BinOp):
        return None
    if e.op in ("-", "//", "cdiv") and inputs_of(e.right):
        return e
    return shrinking(e.left) or shrinking(e.right)


def expressions(rule: ShapeRule) -> list[Expr]:
    return [e for p in rule.parts if isinstance(p, Dims) for e in p.exprs]


def leaves(e: Expr) -> list[Expr]:
    return leaves(e.left) + leaves(e.right) if isinstance(e, BinOp) else [e]


# --- parsing ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, scope: Scope):
        if len(text) > MAX_TEXT:
            raise ShapeRuleError(f"is {len(text)} characters long; a rule has at most "
                                 f"{MAX_TEXT}")
        self.text, self.scope, self.depth = text, scope, 0
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, column)
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                rest = text[pos:].lstrip(_SPACE)
                if not rest:
                    break
                raise self._error(f"unexpected {rest[0]!r}", len(text) - len(rest))
            kind = m.lastgroup or ""
            self.tokens.append((kind, m[kind], m.start(kind)))
            pos = m.end()
        self.i = 0

    def _error(self, what: str, column: int | None = None) -> ShapeRuleError:
        if column is None:
            column = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return ShapeRuleError(f"{what} at column {column + 1} of {self.text!r}")

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.tokens[j][1] if j < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            found = f"{token!r}" if token else "the end"
            raise self._error(f"expected {expected!r}, found {found}" if expected
                              else "unexpected end")
        self.i += 1
        return token

    def kind(self) -> str:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else ""

    def done(self) -> None:
        if self.i < len(self.tokens):
            raise self._error(f"unexpected {self.peek()!r}")

    # rule := like(NAME) | broadcast(NAME, NAME) | part ('+' part)*
    def rule(self) -> ShapeRule:
        if self.peek() in ("like", "broadcast") and self.peek(1) == "(":
            kind = self.take()
            self.take("(")
            args = [self.input_name()]
            if kind == "broadcast":
                self.take(",")
                args.append(self.input_name())
            self.take(")")
            self.done()
            return ShapeRule(kind, tuple(args))
        parts = [self.part()]
        while self.peek() == "+":
            self.take()
            parts.append(self.part())
        self.done()
        return ShapeRule("expr", parts=tuple(parts))

    def input_name(self) -> str:
        if self.kind() != "name" or self.peek() not in self.scope.inputs:
            raise self._error(f"expected an input ({', '.join(self.scope.inputs)}), found "
                              f"{self.peek()!r}" if self.peek() else "unexpected end")
        return self.take()

    # part := '[' [expr (',' expr)*] ']' | NAME '[' [INDEX] ':' [INDEX] ']'
    def part(self) -> Dims | Slice:
        if self.peek() == "[":
            self.take()
            exprs = []
            if self.peek() != "]":
                exprs.append(self.expr())
                while self.peek() == ",":
                    self.take()
                    exprs.append(self.expr())
            self.take("]")
            return Dims(tuple(exprs))
        if self.kind() == "name" and self.peek(1) == "[":
            name = self.input_name()
            self.take("[")
            start = None if self.peek() == ":" else self.index()
            self.take(":")
            stop = None if self.peek() == "]" else self.index()
            self.take("]")
            return Slice(name, start, stop)
        raise self._error(f"expected a list of dims [..] or a slice of an input's shape such "
                          f"as x[:-1], found {self.peek()!r}" if self.peek()
                          else "expected [..] or x[a:b], found the end")

    def index(self, low: int = -MAX_DIMS, high: int = MAX_DIMS) -> int:
        sign = -1 if self.peek() == "-" else 1
        if sign < 0:
            self.take()
        if self.kind() != "int":
            raise self._error(f"expected an index (an integer), found {self.peek()!r}"
                              if self.peek() else "expected an index, found the end")
        value = sign * int(self.take())
        if not low <= value <= high:
            raise self._error(f"index {value} is out of range: kernels take at most "
                              f"{MAX_DIMS} dims, so it is from {low} to {high}"
                              if high <= MAX_DIMS else f"index {value} is out of range",
                              self.tokens[self.i - 1][2])
        return value

    # expr := term (('+' | '-') term)*   term := factor (('*' | '//') factor)*
    def expr(self) -> Expr:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            left = BinOp(op, left, self.term())
        return left

    def term(self) -> Expr:
        left = self.factor()
        while self.peek() in ("*", "//", "/"):
            if self.peek() == "/":
                raise self._error("'/' is not an operator here: use // (division rounding "
                                  "down) or cdiv(a, b) (rounding up)")
            op = self.take()
            left = BinOp(op, left, self.factor())
        return left

    def factor(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"nested more than {MAX_DEPTH} deep")
        try:
            return self._factor()
        finally:
            self.depth -= 1

    def _factor(self) -> Expr:
        token, kind = self.peek(), self.kind()
        if kind == "int":
            value = int(self.take())
            if value > MAX_SIZE:
                raise self._error(f"size {value} is larger than {MAX_SIZE}, the most "
                                  f"TensorFlow's shape functions take", self.tokens[self.i - 1][2])
            return Num(value)
        if token == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if kind == "name" and token in FUNCTIONS and self.peek(1) == "(":
            self.take()
            self.take("(")
            left = self.expr()
            self.take(",")
            right = self.expr()
            self.take(")")
            return BinOp(token, left, right)
        if kind == "name":
            column = self.tokens[self.i][2]
            self.take()
            if self.peek() == "[":
                if token not in self.scope.inputs and token not in self.scope.lists:
                    raise self._error(f"{token!r} is neither an input ({self._names('inputs')})"
                                      f" nor an int[] attribute ({self._names('lists')})",
                                      column)
                self.take("[")
                index = (self.index(-MAX_DIMS, MAX_DIMS - 1) if token in self.scope.inputs
                         else self.index(-MAX_SIZE, MAX_SIZE))
                self.take("]")
                return InputDim(token, index) if token in self.scope.inputs else \
                    AttrItem(token, index)
            if token in self.scope.ints:
                return AttrValue(token)
            if token in self.scope.dynamic:
                return Dynamic(token)
            hint = (f"; a dim of input {token!r} is {token}[i]" if token in self.scope.inputs
                    else f"; an element of {token!r} is {token}[i]"
                    if token in self.scope.lists else "")
            raise self._error(f"{token!r} is not an int attribute ({self._names('ints')})"
                              f"{hint}", column)
        raise self._error(f"expected a dim, found {token!r}" if token
                          else "expected a dim, found the end")

    def _names(self, what: str) -> str:
        return ", ".join(getattr(self.scope, what)) or "none"

    def constraint(self) -> Constraint:
        left = self.expr()
        if self.peek() not in RELATIONS:
            raise self._error(f"expected one of {' '.join(RELATIONS)}, found "
                              f"{self.peek()!r}" if self.peek() else
                              f"expected one of {' '.join(RELATIONS)}, found the end")
        relation = self.take()
        right = self.expr()
        self.done()
        return Constraint(left, relation, right)


def parse(text: str, scope: Scope) -> ShapeRule:
    """The rule `text` names, with every name resolved in `scope`; ShapeRuleError names the
    bad token and its column."""
    rule = _Parser(text.strip(_SPACE), scope).rule()
    rank = rule.fixed_rank()
    if rank is not None and rank > MAX_DIMS:
        raise ShapeRuleError(f"{rank} dims; kernels take at most {MAX_DIMS}")
    return rule


def parse_constraint(text: str, scope: Scope) -> Constraint:
    return _Parser(text.strip(_SPACE), scope).constraint()


def parse_dim(text: str, scope: Scope) -> Expr:
    """One dim expression (a data-dependent dim's bound)."""
    parser = _Parser(text.strip(_SPACE), scope)
    e = parser.expr()
    parser.done()
    return e


# --- the reference ------------------------------------------------------------------------


def _floordiv(a: int, b: int) -> int:
    if b == 0:
        raise ShapeRuleError("division by zero")
    return a // b


_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "//": _floordiv, "cdiv": lambda a, b: -_floordiv(-a, b), "min": min, "max": max}


def value(e: Expr, shapes: dict[str, tuple[int, ...]], attrs: dict,
          dynamic: dict | None = None) -> int:
    """A dim for concrete input shapes and attributes (and values of data-dependent dims):
    64-bit like the generated C++."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Dynamic):
        if dynamic is None or e.name not in dynamic:
            raise ShapeRuleError(f"{e.name} is data-dependent: known once the kernel ran")
        return int(dynamic[e.name])
    if isinstance(e, InputDim):
        shape = shapes[e.input]
        if not -len(shape) <= e.index < len(shape):
            raise ShapeRuleError(f"{e} does not exist: {e.input} has {len(shape)} dims")
        return shape[e.index]
    if isinstance(e, AttrValue):
        return int(attrs[e.name])
    if isinstance(e, AttrItem):
        items = list(attrs[e.name])
        if not -len(items) <= e.index < len(items):
            raise ShapeRuleError(f"{e} does not exist: {e.name} has {len(items)} elements")
        return int(items[e.index])
    result = _APPLY[e.op](value(e.left, shapes, attrs, dynamic),
                          value(e.right, shapes, attrs, dynamic))
    if not INT64[0] <= result <= INT64[1]:
        raise ShapeRuleError(f"{e} overflows 64 bits")
    return result


def evaluate(rule: ShapeRule, shapes: dict[str, tuple[int, ...]],
             attrs: dict | None = None, dynamic: dict | None = None) -> tuple[int, ...]:
    """The output shape for concrete input shapes (the reference the generated C++ follows);
    `dynamic`: the values of data-dependent dims (their bounds, to size an allocation)."""
    attrs = attrs or {}
    if rule.kind == "like":
        return tuple(shapes[rule.args[0]])
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
    dims: list[int] = []
    for part in rule.parts:
        if isinstance(part, Slice):
            dims += shapes[part.input][part.start:part.stop]
        else:
            for e in part.exprs:
                dim = value(e, shapes, attrs, dynamic)
                if dim < 0:
                    raise ShapeRuleError(f"dim {bare(e)} is {dim}, below zero")
                dims.append(dim)
    if len(dims) > MAX_DIMS:
        raise ShapeRuleError(f"{len(dims)} dims; kernels take at most {MAX_DIMS}")
    return tuple(dims)


def holds(c: Constraint, shapes: dict[str, tuple[int, ...]], attrs: dict | None = None) -> bool:
    left, right = value(c.left, shapes, attrs or {}), value(c.right, shapes, attrs or {})
    return {"<": left < right, "<=": left <= right, "==": left == right, "!=": left != right,
            ">=": left >= right, ">": left > right}[c.relation]


# --- JSON ---------------------------------------------------------------------------------
# The tree as data for the manifest: a loader that must compute shapes at run time (PyTorch's
# fake kernels of ops with data-dependent dims) walks it; nothing of it is ever evaluated as
# code. A dim: ["num", 4], ["dim", "x", -1], ["attr", "k"], ["item", "p", 0],
# ["dynamic", "kept"] or ["op", OP, left, right] with OP one of + - * // cdiv min max.


def dim_json(e: Expr) -> list:
    if isinstance(e, Num):
        return ["num", e.value]
    if isinstance(e, InputDim):
        return ["dim", e.input, e.index]
    if isinstance(e, AttrValue):
        return ["attr", e.name]
    if isinstance(e, AttrItem):
        return ["item", e.name, e.index]
    if isinstance(e, Dynamic):
        return ["dynamic", e.name]
    return ["op", e.op, dim_json(e.left), dim_json(e.right)]


def rule_json(rule: ShapeRule) -> dict:
    """{"kind": "like" | "broadcast", "args": [...]}, or {"kind": "expr", "parts": [...]}
    with parts ["dims", [dim, ...]] and ["slice", input, start, stop] (None: left out)."""
    if rule.kind != "expr":
        return {"kind": rule.kind, "args": list(rule.args)}
    return {"kind": "expr", "parts": [
        ["slice", p.input, p.start, p.stop] if isinstance(p, Slice)
        else ["dims", [dim_json(e) for e in p.exprs]] for p in rule.parts]}


# --- C++ ----------------------------------------------------------------------------------
# Every generated function builds shapes through an object `m` whose class each framework
# defines (opforge::glue::ShapeMath for concrete shapes, TensorFlow's shape-function one,
# TensorRT's IExprBuilder one). Only names resolved in the scope, integers and the fixed
# operator names below reach the C++ text.

CPP_OPS = {"+": "kAdd", "-": "kSub", "*": "kMul", "//": "kFloorDiv", "cdiv": "kCeilDiv",
           "min": "kMin", "max": "kMax"}
NO_INDEX = "opforge::glue::kNoIndex"


def cpp(e: Expr, scope: Scope) -> str:
    """A C++ expression computing `e` through `m`."""
    if isinstance(e, Num):
        return f"m.num({e.value})"
    if isinstance(e, InputDim):
        return f"m.dim({scope.inputs.index(e.input)}, {e.index})"
    if isinstance(e, AttrValue):
        return f"m.attr({scope.ints.index(e.name)})"
    if isinstance(e, AttrItem):
        return f"m.item({scope.lists.index(e.name)}, {e.index})"
    if isinstance(e, Dynamic):
        return f"m.dynamic({scope.dynamic.index(e.name)})"
    return (f"m.op(opforge::glue::DimOp::{CPP_OPS[e.op]}, {cpp(e.left, scope)}, "
            f"{cpp(e.right, scope)})")


def cpp_statements(rule: ShapeRule, scope: Scope) -> list[str]:
    """Statements that push the dims of an expression rule onto `m`, in order."""
    out = []
    for part in rule.parts:
        if isinstance(part, Slice):
            bounds = [NO_INDEX if b is None else str(b) for b in (part.start, part.stop)]
            out.append(f"m.push_slice({scope.inputs.index(part.input)}, {bounds[0]}, "
                       f"{bounds[1]});")
        else:
            out += [f"m.push({cpp(e, scope)});" for e in part.exprs]
    return out

