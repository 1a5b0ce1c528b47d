"""The one plain-text table of Telltale's commands: scan, diff, selftest, findings attachments.

One renderer keeps the tables alike: columns as wide as their widest cell (or a
minimum the caller gives, so short tables keep a familiar layout), the last column
unpadded and no line ending in blanks. How long a cell may be is the caller's to
decide, with `cut`: a findings attachment cuts hard, a terminal table marks the cut.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

ELLIPSIS = "…"


def cut(text: str, width: int, mark: str = ELLIPSIS) -> str:
    """`text` in at most `width` characters, the last of them `mark` when something was cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - len(mark))] + mark[:width]


def table(header: Sequence[str] | None, rows: Iterable[Sequence[object]], *,
          widths: Sequence[int] = (), right: Collection[int] = (), sep: str = "  ",
          indent: str = "", rule: bool = False) -> str:
    """Rows under a header (None: no header), one line each, without a final newline.

    A column is as wide as its widest cell, at least `widths[i]`; columns whose index
    is in `right` are right-aligned; `rule` draws dashes under the header. A cell with
    line breaks continues on the next lines, in its own column.
    """
    body = [[str(c) for c in row] for row in rows]
    if header is not None:
        body.insert(0, list(header))
    if not body:
        return ""
    ncols = max(len(row) for row in body)
    split = [[cell.split("\n") for cell in row] + [[""]] * (ncols - len(row)) for row in body]
    width = [max([widths[i] if i < len(widths) else 0]
                 + [len(line) for row in split for line in row[i]]) for i in range(ncols)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, width, strict=True))]
        if ncols - 1 not in right:
            out[-1] = cells[-1]  # the last column is not padded: a long cell widens nothing
        return (indent + sep.join(out)).rstrip()

    lines = []
    for n, row in enumerate(split):
        for k in range(max(len(cell) for cell in row)):
            lines.append(line([cell[k] if k < len(cell) else "" for cell in row]))
        if rule and n == 0 and header is not None:
            lines.append(line(["-" * w for w in width]))
    return "\n".join(lines)
