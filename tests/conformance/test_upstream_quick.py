"""ZEO's own test suite, the ``--quick`` subset, on plain ZEO and through ZEORaid.

Runs ``run_upstream.py --quick --target both`` (the subset is QUICK in that file: tests
that pass through the RAID today) and fails when a test that passes on plain ZEO does
not pass through the RAID. The full comparison is ``run_upstream.py`` without
``--quick`` (see README.md in this directory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(600)
def test_upstream_quick_subset_passes_through_raid(tmp_path):
    if os.environ.get("ZEORAID_TARGET", "raid").strip().lower() == "plain":
        pytest.skip("needs the RAID (ZEORAID_TARGET=raid)")
    report = tmp_path / "report.md"
    argv = [sys.executable, str(HERE / "run_upstream.py"), "--quick", "--target", "both",
            "--timeout", "60", "--report", str(report), "--workdir", str(tmp_path / "work"),
            "-q"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=560,
                            stdin=subprocess.DEVNULL)
    summary = result.stdout[-12000:] + result.stderr[-4000:]
    assert result.returncode == 0, (
        f"run_upstream.py --quick exited {result.returncode}: a test of ZEO's suite that "
        f"passes on plain ZEO fails through the RAID (logs in {tmp_path / 'work'})\n"
        f"{summary}")
    # Every quick test ran on both targets and passed on both.
    assert "pass on plain, fail through the RAID: 0" in result.stdout, summary
    lines = [l for l in result.stdout.splitlines() if l.startswith(("ZEO", "ZODB"))]
    assert lines, summary
    not_passing = [l for l in lines if l.split()[1:3] != ["pass", "pass"]]
    assert not not_passing, "\n".join(not_passing)
