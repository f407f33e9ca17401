"""One renderer for every table opforge prints: fitted columns without trailing spaces, or
given widths exactly as f-string padding would give them."""

from __future__ import annotations

from opforge.core import tables


def test_fitted_columns_and_no_trailing_spaces():
    rows = [["job", "image", "steps"], ["24.09-pytorch-cpu", "nvcr.io/x", ""],
            ["a", "b", "build, check"]]
    assert tables.lines(rows) == ["job                image      steps",
                                  "24.09-pytorch-cpu  nvcr.io/x",
                                  "a                  b          build, check"]


def test_given_widths_pad_like_format_specs_and_keep_the_last_cell_as_is():
    rows = [["pytorch", "2.13.0+cpu", "lib.so"], ["", "", ""], ["averyverylongname", "1", "x"]]
    assert tables.lines(rows, (11, 14), gap=" ") == [
        f"{a:<11} {b:<14} {c}" for a, b, c in rows]
    assert tables.lines([["cmake", "/bin/cmake  "]], (12,), gap=" ", indent="  ") == [
        "  cmake        /bin/cmake  "]


def test_a_styled_cell_is_padded_by_its_length_as_before():
    styled = "\033[31merror\033[0m"
    assert tables.lines([[styled, "NEEDED", "m"]], (8, 10), gap=" ", indent="  ") == [
        f"  {styled:<8} {'NEEDED':<10} m"]
