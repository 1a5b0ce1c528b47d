"""Device leases: one run, one worker at a time per device, across processes.

An exclusive ``flock`` on a per-device file: the kernel drops it when the holder
dies, so a crashed worker never leaves a device locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from telltale.errors import SetupError


class Lease:
    def __init__(self, folder: Path, device: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{device}.lock"
        self.device = device
        self.fo: IO[str] | None = None

    def acquire(self, timeout: float = 60.0) -> None:
        fo = open(self.path, "a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fo, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fo.seek(0)
                    holder = fo.read().strip() or "another process"
                    fo.close()
                    raise SetupError(f"device {self.device} is leased by {holder}; "
                                     f"waited {timeout:.0f} s") from None
                time.sleep(0.2)
        fo.seek(0)
        fo.truncate()
        fo.write(f"pid {os.getpid()}")
        fo.flush()
        self.fo = fo

    def release(self) -> None:
        if self.fo is not None:
            fcntl.flock(self.fo, fcntl.LOCK_UN)
            self.fo.close()
            self.fo = None
