"""Every table opforge prints for people: rows of text cells in aligned columns.

A column is as wide as given, or else as its widest cell; the last column is never padded,
and a line of a fitted table carries no trailing spaces. Cells are padded by their length
as Python counts it, so a cell styled with colour codes (log.style) takes more room than it
shows: columns whose cells are styled come last or are padded knowingly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def lines(rows: Iterable[Sequence[str]], widths: Sequence[int] | None = None, *,
          gap: str = "  ", indent: str = "", strip: bool | None = None) -> list[str]:
    """The rows as lines: each cell but the last padded to its column's width (`widths`,
    else the widest cell of the column), joined by `gap`, after `indent`. `strip` drops
    trailing spaces; by default a fitted table strips and one of given widths does not."""
    rows = [list(row) for row in rows]
    if widths is None:
        count = max((len(row) for row in rows), default=0)
        widths = [max((len(row[i]) for row in rows if i < len(row)), default=0)
                  for i in range(count)]
        strip = True if strip is None else strip
    out = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 and i < len(widths) else cell
                 for i, cell in enumerate(row)]
        line = indent + gap.join(cells)
        out.append(line.rstrip() if strip else line)
    return out
