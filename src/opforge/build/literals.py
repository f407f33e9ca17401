"""Text from a recipe as literals of the languages opforge generates: the one escaping layer.

Names that reach generated code unescaped (namespace, op, input, output, attribute and
type-variable names, dtypes, shape rules) are identifiers by the recipe's validation. Every
other text (docs, string defaults, file names, paths) is free: templates receive it as
RecipeText or a Path, and the template environment (opforge.build.codegen) refuses to emit
either unless a filter here has turned it into a literal or comment of the target language.
Framework folders use these too, for the literals their glue needs.
"""

from __future__ import annotations

import re
from pathlib import PurePath


class RecipeText(str):
    """Free text from a recipe; a template must pass it through an escaping filter."""


def _escaped(text: str, also: str) -> str:
    """`text` between double quotes: printable ASCII as is, `"`, `\\` and the characters in
    `also` after a backslash, every other byte of its UTF-8 as a three-digit octal escape
    (unambiguous, unlike hex escapes, whatever follows)."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '"\\' or char in also:
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def quoted(text: str) -> str:
    """A double-quoted string as torch's schema parser and protobuf's text format (TensorFlow
    attr defaults) read it: both take the backslash and octal escapes used here, while torch
    refuses `\\u` (what JSON writes for non-ASCII) and `\\?`."""
    return _escaped(text, "")


def cpp_string(text: str) -> str:
    """An ordinary (never raw) C++ string literal holding `text`'s UTF-8 bytes; `?` is escaped
    too, so that no `??/` trigraph can form where trigraphs are still read."""
    return _escaped(text, "?")


def comment(text: str) -> str:
    """`text` for the rest of a `//` or `#` line comment: as it is when nothing in it can end
    the comment or splice the next line into it (printable ASCII, no `??` trigraph, no
    backslash at the end), else as a C string literal, which never can."""
    text = str(text)
    if re.fullmatch(r"[ -~]*", text) and "??" not in text and not text.endswith("\\"):
        return text
    return cpp_string(text)


def cmake_path(path: str | PurePath) -> str:
    """A path as one quoted CMake argument: `\\`, `"` and `$` escaped, and `;` as `\\;`, which
    CMake keeps so that list-taking commands (sources, include folders, install) do not
    split the path."""
    text = path.as_posix() if isinstance(path, PurePath) else str(path)
    return '"' + re.sub(r'([\\"$;])', r"\\\1", text) + '"'


def cmake_list(items: list) -> str:
    """A list (paths, definitions) as one quoted CMake argument, e.g. a typed cache value."""
    return '"' + ";".join(cmake_path(item)[1:-1] for item in items) + '"'


def attr_literal(attr_type: str, value, booleans: tuple[str, str] = ("false", "true")) -> str:
    """An attribute default as schema languages write it (TensorFlow attrs, and the kernel
    header's comments; `booleans` for a language that spells them otherwise): strings
    quoted, floats and lists as Python writes them."""
    if attr_type == "bool":
        return booleans[bool(value)]
    if attr_type == "string":
        return quoted(value)
    if attr_type == "float":
        return repr(float(value))
    if attr_type.endswith("[]"):
        cast = float if attr_type == "float[]" else int
        return "[" + ", ".join(repr(cast(v)) for v in value) + "]"
    return str(value)


def cpp_int(value: int) -> str:
    """An int64 as a C++ expression: INT64_MIN has no literal of its own (its magnitude is
    no int64: `-9223372036854775808` negates an unsigned constant)."""
    value = int(value)
    return ("static_cast<int64_t>(-9223372036854775807LL - 1)" if value == -2**63
            else str(value))
