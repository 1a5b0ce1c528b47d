"""The seal probe, run inside a device's namespace (`python -m telltale.capture.probe`).

It tries what a leaking firmware would: a plain connection to an outside address (it must
arrive in the capture, which answers with the probe mark), a TCP connection and a UDP
datagram to services of the lab machine itself (they must not arrive), and a UDP datagram
to an outside address (dropped; the packet record must show it). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outside", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--local-tcp", required=True)
    ap.add_argument("--local-udp", required=True)
    ap.add_argument("--udp", required=True)
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args(argv)
    out: dict = {"outside_captured": False}
    try:
        with socket.create_connection(_addr(a.outside), timeout=a.timeout) as s:
            s.sendall(f"GET /probe/{a.token} HTTP/1.1\r\nHost: {a.host}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while len(data) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        out["outside_captured"] = b"telltale-seal-probe" in data and a.token.encode() in data
    except OSError as e:
        out["outside_error"] = f"{type(e).__name__}: {e}"
    try:  # must be redirected into the capture, never reach the machine's own listener
        with socket.create_connection(_addr(a.local_tcp), timeout=a.timeout) as s:
            s.sendall(b"telltale probe\r\n\r\n")
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for target in (a.local_udp, a.udp):
            try:
                u.sendto(f"telltale-seal-probe {a.token}".encode(), _addr(target))
            except OSError:
                pass
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
