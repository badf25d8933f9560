"""zeoraid-admin against a running RAID (skipped with ZEORAID_TARGET=plain)."""

from __future__ import annotations

import pytest
import transaction
from persistent.mapping import PersistentMapping

pytestmark = pytest.mark.raid_only


def test_status_reports_optimal_raid_and_last_tid(cluster):
    db = cluster.db()
    tm = transaction.TransactionManager()
    root = db.open(transaction_manager=tm).root()
    for i in range(3):
        root[i] = PersistentMapping(i=i)
        tm.commit()
    last = db.lastTransaction()

    status = cluster.raidcore.status()
    assert status["state"] == "optimal", status
    assert status["storage_name"] == "1", status
    assert status["last_tid"] == last.hex(), status
    assert status["commits"] >= 3, status
    by_name = {b["name"]: b for b in status["backends"]}
    assert set(by_name) == {b.name for b in cluster.backends}, status
    for backend in cluster.backends:
        entry = by_name[backend.name]
        assert entry["address"] == f"{backend.addr[0]}:{backend.addr[1]}", entry
        assert entry["state"] == "optimal", entry
        assert entry["last_tid"] == last.hex(), entry
        assert entry["reason"] == "", entry

    table = cluster.raidcore.admin("status").stdout
    assert "optimal" in table
    for backend in cluster.backends:
        assert backend.name in table
    assert last.hex() in table
