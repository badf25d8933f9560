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


def backend_entry(status: dict, name: str) -> dict:
    return next(b for b in status["backends"] if b["name"] == name)


def wait_for(predicate, timeout: float, what: str):
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_details_show_protocol_connection_and_history(cluster):
    import json
    result = cluster.raidcore.admin("details", "--json")
    details = json.loads(result.stdout)
    assert details["state"] == "optimal", details
    for backend in cluster.backends:
        entry = backend_entry(details, backend.name)
        assert entry["protocol"] == "Z5", entry
        assert entry["connected"] is True, entry
        assert entry["state"] == "optimal", entry
        assert entry["address"] == f"{backend.addr[0]}:{backend.addr[1]}", entry
        assert entry["history"] and entry["history"][-1]["to"] == "optimal", entry
        assert entry["calls"] > 0 and entry["call_errors"] == 0, entry
    table = cluster.raidcore.admin("details").stdout
    assert "PROTO" in table and "Z5" in table and "backend2:" in table
    assert "CALLS" in table and "ERRORS" in table


def test_disable_and_enable_a_backend_while_clients_commit(cluster):
    import json
    db = cluster.db()
    tm = transaction.TransactionManager()
    root = db.open(transaction_manager=tm).root()
    root["n"] = 0
    tm.commit()

    out = cluster.raidcore.admin("disable", "backend2", "--reason", "disk swap")
    assert "disabled" in out.stdout
    status = cluster.raidcore.status()
    entry = backend_entry(status, "backend2")
    assert entry["state"] == "disabled" and entry["reason"] == "disk swap", entry
    # Monitoring sees a degraded RAID: exit 1 (WARNING).
    assert cluster.raidcore.admin("status", check=False).returncode == 1
    # The last optimal backend cannot be disabled.
    refused = cluster.raidcore.admin("disable", "backend1", check=False)
    assert refused.returncode == 1, refused
    assert "last optimal backend" in refused.stderr, refused.stderr
    # Commits go on without it; it is not recovered by itself.
    for i in range(1, 6):
        root["n"] = i
        tm.commit()
    import time
    time.sleep(2)
    assert backend_entry(cluster.raidcore.status(), "backend2")["state"] == "disabled"

    out = cluster.raidcore.admin("enable", "backend2")
    assert "enabled" in out.stdout
    wait_for(lambda: cluster.raidcore.status()["state"] == "optimal", 60,
             "backend2 recovered after enable")
    status = cluster.raidcore.status()
    assert backend_entry(status, "backend2")["last_tid"] == status["last_tid"]
    details = json.loads(cluster.raidcore.admin("details", "--json").stdout)
    path = [(h["from"], h["to"]) for h in backend_entry(details, "backend2")["history"]]
    assert ("optimal", "disabled") in path and ("disabled", "degraded") in path, path
    assert path[-1][1] == "optimal", path
    # Enabling what is not disabled is refused with the reason.
    again = cluster.raidcore.admin("enable", "backend2", check=False)
    assert again.returncode == 1 and "not disabled" in again.stderr, again


def test_usage_errors_of_the_new_commands(cluster):
    for argv in (["disable"], ["enable"], ["details", "x"],
                 ["status", "--reason", "x"]):
        result = cluster.raidcore.admin(*argv, check=False)
        assert result.returncode == 2, (argv, result)


def test_add_recover_remove_backends_while_clients_commit_and_restart(
        make_cluster, tmp_path):
    import threading
    import harness
    backends_file = tmp_path / "backends.conf"
    cluster = make_cluster(raidcore_args=["--backends_file", str(backends_file)])
    assert "backend1" in backends_file.read_text()  # written at start-up
    db = cluster.db()
    stop = threading.Event()
    errors: list = []
    committed = [0]

    def commit_loop() -> None:
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        try:
            while not stop.is_set():
                conn.root()["n"] = committed[0]
                tm.commit()
                committed[0] += 1
        except BaseException as e:
            errors.append(e)
        finally:
            conn.close()

    worker = threading.Thread(target=commit_loop)
    worker.start()
    try:
        wait_for(lambda: committed[0] >= 20, 30, "commits to start")
        # A third mirror, empty: added, recovered in full while commits go on.
        third = harness.ZeoBackend(cluster.supervisor, "backend3")
        third.start()
        out = cluster.raidcore.admin("add", "backend3", harness.format_addr(third.addr))
        assert "added" in out.stdout, out.stdout
        wait_for(lambda: backend_entry(cluster.raidcore.status(), "backend3")["state"]
                 == "optimal", 60, "backend3 recovered")
        assert "backend3" in backends_file.read_text()
        dup = cluster.raidcore.admin("add", "backend3", "127.0.0.1:1", check=False)
        assert dup.returncode == 1 and "exists" in dup.stderr, dup
        # An original mirror removed while commits go on.
        out = cluster.raidcore.admin("remove", "backend1")
        assert "removed" in out.stdout
        names = {b["name"] for b in cluster.raidcore.status()["backends"]}
        assert names == {"backend2", "backend3"}, names
        before = committed[0]
        wait_for(lambda: committed[0] >= before + 20, 30, "commits after remove")
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors
    text = backends_file.read_text()
    assert "backend1" not in text and "backend3" in text, text
    # A restart keeps the list the operator left (the --backend flags of the
    # original three are overridden by the file).
    cluster.raidcore.stop()
    cluster.raidcore.start()
    status = cluster.wait_raid_state("optimal")
    assert {b["name"] for b in status["backends"]} == {"backend2", "backend3"}, status
    assert all(b["last_tid"] == status["last_tid"] for b in status["backends"]), status
    # The last optimal backend cannot be removed.
    assert cluster.raidcore.admin("remove", "backend2").returncode == 0
    last = cluster.raidcore.admin("remove", "backend3", check=False)
    assert last.returncode == 1 and "last optimal" in last.stderr, last


def test_add_and_remove_need_a_backends_file(cluster):
    result = cluster.raidcore.admin("add", "x", "127.0.0.1:1", check=False)
    assert result.returncode == 1 and "--backends_file" in result.stderr, result
    result = cluster.raidcore.admin("remove", "backend1", check=False)
    assert result.returncode == 1 and "--backends_file" in result.stderr, result


def test_status_exit_codes_for_monitoring(cluster):
    # As a Nagios plugin: 0 optimal, 1 degraded, 2 failed, 3 unreachable.
    def status_code() -> int:
        return cluster.raidcore.admin("status", check=False).returncode

    assert status_code() == 0
    cluster.backends[1].kill()
    wait_for(lambda: status_code() == 1, 30, "status to exit 1 (degraded)")
    cluster.backends[0].kill()
    wait_for(lambda: status_code() == 2, 30, "status to exit 2 (failed)")
    assert cluster.raidcore.status()["state"] == "failed"
    cluster.raidcore.stop()
    result = cluster.raidcore.admin("status", "--timeout", "2s", check=False)
    assert result.returncode == 3, result


def test_status_shows_lag_and_last_error(cluster):
    import time
    db = cluster.db()
    tm = transaction.TransactionManager()
    root = db.open(transaction_manager=tm).root()
    cluster.backends[1].kill()
    wait_for(lambda: backend_entry(cluster.raidcore.status(), "backend2")["state"]
             == "degraded", 30, "backend2 degraded")
    time.sleep(1.1)  # the next commit's tid is a second later than backend2's
    root["x"] = 1
    tm.commit()
    entry = backend_entry(cluster.raidcore.status(), "backend2")
    assert entry["lag_seconds"] >= 1, entry
    assert entry["lag_transactions"] == 1, entry
    assert entry["last_error"] and entry["last_error_at"].endswith("+00:00"), entry
    assert "behind" in cluster.raidcore.admin("status", check=False).stdout
    head = backend_entry(cluster.raidcore.status(), "backend1")
    assert head["lag_seconds"] == 0 and head["lag_transactions"] == 0, head
