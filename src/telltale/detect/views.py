"""Decoded views of one sent part: the tree of everything its bytes decode to.

A part (a URL, a header, a body) is the root; each decoding step (gzip, a
JSON field, a base64 blob...) adds a child view. Every view that holds bytes
its parent does not show (decompressed, decoded) is matched; a view that is
only a slice of its parent (a JSON field, a form field left as is) is matched
only when its parent had a hit, to say more precisely where. So each byte is
matched about once, and a hit still gets the most precise location.

Which views lie below a view is the registered decoders' business
(`decoders/_registry.py`); this module walks the tree and keeps it within the
flow's budget.
"""

from __future__ import annotations

from collections.abc import Callable

from telltale.detect.decoders import _registry
from telltale.detect.decoders._api import Budget, Child, Plan, View, looks_text, mib, plan
from telltale.detect.decoders.text import may_hide
from telltale.detect.matcher import Hit
from telltale.detect.model import Part

__all__ = ["Budget", "Child", "View", "examine", "expand"]

_LATER = object()  # a view matched when examine reaches it


# The registry and its decoders' methods, bound once (`plan`); made again when the registry is
# replaced (a test registering a decoder).
_plan: tuple[object, Plan] = (None, ())


def _replan() -> Plan:
    global _plan
    decoders = _registry.DECODERS
    _plan = (decoders, plan(decoders))
    return _plan[1]


def expand(view: View, budget: Budget) -> list[Child]:
    """The views one decoding step below `view`: those of the first registered decoder that
    applies and yields children (an empty list included: that decoder claims the view)."""
    registry, walk = _plan
    if registry is not _registry.DECODERS:
        walk = _replan()
    for applies, children, headerless in walk:
        if applies is None or applies(view):
            kids = children(view, budget)
            if kids is not None:
                if headerless:
                    for c in kids:
                        c.headerless = True
                return kids
    return []


def examine(part: Part, scan: Callable[[bytes], list[Hit]], budget: Budget, views: list[View],
            scan_many: Callable[[list[bytes]], list[list[Hit]]] | None = None,
            root_hits: list[Hit] | None = None) -> list[tuple[int, Hit]]:
    """Decode `part` into views (appended to `views`) and match each one that needs it.

    `scan_many` (what `[scan(d) for d in datas]` gives, in fewer calls) matches the views one
    step below a view together, when they are made; `root_hits`: the part's own match, if
    already made.
    """
    root = View(part.data, part.location, (), -1, 0, False, looks_text(part.data), part.content_encoding,
                part.content_type, part.kind)
    hits: list[tuple[int, Hit]] = []
    # (view, its hits; None: not matched; _LATER: matched when it is reached)
    stack: list[tuple[View, list[Hit] | None | object]] = [(root, _LATER if root_hits is None else root_hits)]
    limits = budget.limits
    min_blob = limits.min_blob
    while stack:
        v, found = stack.pop()
        idx = len(views)
        views.append(v)
        if found is _LATER:
            found = scan(v.data)
        hit = v.hit = bool(found)
        if found:
            hits.extend([(idx, h) for h in found])  # type: ignore[union-attr]
        children = expand(v, budget)
        if not children:
            continue
        if v.depth >= limits.max_depth:
            budget.note(f"{v.location}: nested deeper than {limits.max_depth} steps; not decoded further")
            continue
        new = []
        for c in children:
            if (c.structural and c.transparent and not hit
                    and not may_hide(c.data, min_blob)):
                continue  # a plain field its parent's match already covered: no view needed
            cost = 0 if c.transparent else len(c.data)
            if budget.views_left <= 0 or cost > budget.bytes_left:
                budget.note(f"{v.location}: decoding budget of the flow spent "
                            f"({limits.max_views} views, {mib(limits.max_flow_bytes)}); rest not decoded")
                break
            budget.views_left -= 1
            budget.bytes_left -= cost
            sep = " " if v.parent < 0 else " > "
            text = looks_text(c.data) if c.is_text is None else c.is_text  # known to its decoder, or not
            new.append(View(c.data, f"{v.location}{sep}{c.label}", v.chain + (c.step,), idx, v.depth + 1,
                            c.transparent, text, c.content_encoding, c.content_type, c.kind, c.headerless))
        # a transparent view (a slice of its parent as is) is matched only when its parent had a hit
        wanted = [hit or not w.transparent for w in new]
        if scan_many is not None and sum(wanted) > 1:
            results = iter(scan_many([w.data for w, want in zip(new, wanted, strict=True) if want]))
            entries = [(w, next(results) if want else None) for w, want in zip(new, wanted, strict=True)]
        else:
            entries = [(w, _LATER if want else None) for w, want in zip(new, wanted, strict=True)]
        stack.extend(reversed(entries))
    return hits
