"""The compliance matrix: requirement x device x firmware -> verdict, from one or more runs.

Written beside the report as CSV and JSON, and put into the report itself as
global attachments (Allure's ``*-globals.json``), so a reader sees the whole
picture on one page.
"""

from __future__ import annotations

import csv
import html
import io
import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from telltale import results

ORDER = {"failed": 0, "broken": 1, "unknown": 2, "skipped": 3, "passed": 4}


@dataclass(frozen=True)
class Cell:
    requirement: str
    scenario: str
    device: str
    firmware: str
    verdict: str
    regulations: str
    boundary: str = "unknown"


def cells(run: Path) -> list[Cell]:
    folder = run / "allure-results"
    props = results.environment(folder)
    out = []
    for r in results.read_results(folder):
        device = r.label("device", props.get("device", "unknown"))
        out.append(Cell(
            requirement=",".join(r.labels.get("requirement", ("-",))),
            scenario=r.name if r.name is not None else "?",
            device=device,
            firmware=props.get(f"firmware.{device}") or props.get("firmware", "unknown"),
            verdict=r.status,
            regulations=" ".join(sorted(r.labels.get("regulation", ()))),
            boundary=props.get(f"boundary.{device}") or r.label("boundary", "unknown"),
        ))
    return sorted(out, key=lambda c: (c.requirement, c.scenario, c.device))


def to_csv(rows: list[Cell]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["requirement", "scenario", "device", "firmware", "verdict", "regulations", "boundary"])
    for c in rows:
        w.writerow([c.requirement, c.scenario, c.device, c.firmware, c.verdict, c.regulations, c.boundary])
    return buf.getvalue()


def to_html(rows: list[Cell]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(c.requirement)}</td><td>{html.escape(c.scenario)}</td>"
        f"<td>{html.escape(c.device)}</td><td>{html.escape(c.firmware)}</td>"
        f"<td class='{c.verdict}'>{c.verdict}</td><td>{html.escape(c.regulations)}</td>"
        f"<td>{html.escape(c.boundary)}</td></tr>"
        for c in rows)
    return ("<!doctype html><meta charset='utf-8'><title>Compliance matrix</title><style>"
            "td,th{border:1px solid #ccc;padding:4px 8px;font:13px sans-serif}"
            ".failed{background:#fdd}.broken{background:#fec}.passed{background:#dfd}</style>"
            "<table><tr><th>requirement</th><th>scenario</th><th>device</th><th>firmware</th>"
            f"<th>verdict</th><th>regulations</th><th>capture boundary</th></tr>{body}</table>")


def write(run: Path) -> list[Cell]:
    """matrix.csv and matrix.json beside the results; the same as global report attachments."""
    rows = cells(run)
    (run / "matrix.csv").write_text(to_csv(rows), encoding="utf-8")
    (run / "matrix.json").write_text(json.dumps([asdict(c) for c in rows], indent=1), encoding="utf-8")
    results = run / "allure-results"
    now = int(time.time() * 1000)
    attachments = []
    for name, text, mime, ext in (("compliance matrix (table)", to_html(rows), "text/html", "html"),
                                  ("compliance matrix.csv", to_csv(rows), "text/csv", "csv")):
        source = f"{uuid.uuid4()}-attachment.{ext}"
        (results / source).write_text(text, encoding="utf-8")
        attachments.append({"name": name, "source": source, "type": mime, "timestamp": now})
    (results / f"{uuid.uuid4()}-globals.json").write_text(
        json.dumps({"attachments": attachments, "errors": []}), encoding="utf-8")
    return rows
