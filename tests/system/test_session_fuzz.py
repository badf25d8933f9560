"""A quick run of the translator's session fuzzer (tests/fuzz/session_fuzz.py).

About 20,000 valid and invalid ZEO calls from 4 raw clients with a fixed seed: no
hang, no dead process, no leaked commit lock (a good client commits at every health
check), a RAID still optimal and identical mirrors. The long run (10^6 calls) is
``.venv/bin/python tests/fuzz/session_fuzz.py --calls 1000000`` (tests/fuzz/README.md).

Data calls after a successful vote, followed by server_status and tpc_abort,
tpc_finish or a disconnect, crashed the translator before it collected the
transaction stream's status only once (SIGABRT); explicit tids far in the future
were committed before raidcore's --max_tid_ahead and its 2^63 bound. Both are in the
grammar.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))

import session_fuzz  # noqa: E402

log = logging.getLogger("zeoraid.tests.session_fuzz")
pytestmark = pytest.mark.raid_only

SEED = 20240617


def test_session_fuzz_quick(make_cluster):
    cluster = make_cluster(**session_fuzz.cluster_options("pickle"))
    options = session_fuzz.FuzzOptions(calls=20_000, workers=4, seed=SEED,
                                       check_every=5_000, encoding="pickle",
                                       far_future_tids=True,
                                       data_after_vote=True)
    result = session_fuzz.run_fuzz(cluster, options, log=log.info)
    log.info("%s", result.summary(examples=False))
    assert not result.findings, "\n\n".join(result.findings)
    assert result.calls >= 20_000
    assert result.checks >= 4
    # After all that, a good client still commits.
    ok, took, error = session_fuzz.good_client_commits(cluster, deadline=20.0,
                                                       value="after the fuzzing")
    assert ok, error
    assert cluster.raidcore.status()["state"] == "optimal"
