"""Invalidations reach the other clients before the committer's tpc_finish reply,
as from a ZEO server (which sends them before it answers the committer): a client
that reads right after another one committed rarely sees stale data.

Plain ZEO is close but not strict (its server hands other connections'
invalidations to their event loops with call_soon_threadsafe: a few of 40 arrive
after the commit returned, hence 4-15 % stale reads in
tests/bench/bench_stale_reads.py); the RAID is strict, so this is RAID-only.
"""

from __future__ import annotations

import select

import pytest

from harness import open_conn
from test_hostile import RawClient, decode, read_frame

pytestmark = pytest.mark.raid_only


def test_other_clients_have_the_invalidation_when_the_commit_returns(cluster):
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["x"] = 0
    tm.commit()
    watcher = RawClient(cluster.addr)
    try:
        watcher.handshake()
        watcher.register()
        late = []
        for i in range(1, 41):
            root["x"] = i
            tm.commit()
            tid = conn._storage.lastTransaction()
            # The commit returned: the watcher's invalidation must be there
            # already, not merely on its way.
            ready, _, _ = select.select([watcher.sock], [], [], 0)
            if not ready:
                late.append(i)
            msgid, flag, name, args = decode(read_frame(watcher.sock))
            assert name == "invalidateTransaction", (name, args)
            assert args[0] == tid, (args[0].hex(), tid.hex())
        assert not late, f"invalidation not yet sent when commits {late} returned"
    finally:
        watcher.close()
