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


def _props(results: Path) -> dict[str, str]:
    env = results / "environment.properties"
    if not env.exists():
        return {}
    return dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)


def cells(run: Path) -> list[Cell]:
    results = run / "allure-results"
    props = _props(results)
    out = []
    for f in sorted(results.glob("*-result.json")):
        r = json.loads(f.read_text())
        labels: dict[str, list[str]] = {}
        for lab in r.get("labels", []):
            labels.setdefault(lab["name"], []).append(lab["value"])
        device = labels.get("device", [props.get("device", "unknown")])[0]
        out.append(Cell(
            requirement=",".join(labels.get("requirement", ["-"])),
            scenario=r.get("name", "?"),
            device=device,
            firmware=props.get(f"firmware.{device}") or props.get("firmware", "unknown"),
            verdict=r.get("status", "unknown"),
            regulations=" ".join(sorted(labels.get("regulation", []))),
            boundary=props.get(f"boundary.{device}") or labels.get("boundary", ["unknown"])[0],
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
