"""A device is leased by one process at a time, and a crashed holder frees it."""

import subprocess
import sys

import pytest

from telltale.errors import SetupError
from telltale.lease import Lease


def test_second_holder_waits_then_is_told_who_holds_it(tmp_path):
    first = Lease(tmp_path, "phone-a")
    first.acquire()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.path.insert(0, 'src');"
        "from telltale.lease import Lease; from pathlib import Path;"
        f"l = Lease(Path({str(tmp_path)!r}), 'phone-a');"
        "import telltale.errors as e\n"
        "try:\n l.acquire(timeout=0.5)\nexcept e.SetupError as x:\n print(x); sys.exit(3)")],
        stdout=subprocess.PIPE, text=True)
    out, _ = holder.communicate(timeout=30)
    assert holder.returncode == 3 and "leased by pid" in out
    first.release()
    again = Lease(tmp_path, "phone-a")
    again.acquire(timeout=1)
    again.release()


def test_a_crashed_holder_leaves_no_lock(tmp_path):
    code = ("import sys, os; sys.path.insert(0, 'src'); from pathlib import Path;"
            "from telltale.lease import Lease;"
            f"Lease(Path({str(tmp_path)!r}), 'phone-b').acquire(); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 9
    Lease(tmp_path, "phone-b").acquire(timeout=1)  # the kernel dropped the dead holder's lock


def test_same_process_second_lease_times_out(tmp_path):
    a = Lease(tmp_path, "phone-c")
    a.acquire()
    with pytest.raises(SetupError, match="phone-c is leased by pid"):
        Lease(tmp_path, "phone-c").acquire(timeout=0.3)
