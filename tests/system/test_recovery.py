"""Self-healing: backends that stall, die or restart come back by themselves
(incremental recovery, cutover under the commit lock), operators can recover,
cancel and throttle, a diverged backend is refused, and a raidcore start-up never
serves a stale mirror. Real runzeo backends, real ZODB clients.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage

from harness import STORAGE_NAME, describe_history, open_conn, wait_until
from test_raid import committed_tids, finish_workers, start_workers

pytestmark = pytest.mark.raid_only


def backend_status(cluster, name: str) -> dict:
    return {b["name"]: b for b in cluster.raidcore.status()["backends"]}[name]


def assert_identical_histories(cluster):
    histories = cluster.backend_histories()
    first_name, first = next(iter(histories.items()))
    for name, history in histories.items():
        assert history == first, (
            f"{name} differs from {first_name}:\n{describe_history(history)}\nvs\n"
            f"{describe_history(first)}")
    return first


class Committer(threading.Thread):
    """Commits one object change after another through the RAID, recording errors."""

    def __init__(self, db, key: str):
        super().__init__(daemon=True)
        self.db, self.key = db, key
        self.stop_flag = threading.Event()
        self.commits = 0
        self.errors: list[str] = []

    def run(self):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        try:
            while not self.stop_flag.is_set():
                try:
                    tm.begin()
                    conn.root()[self.key] = self.commits
                    tm.commit()
                    self.commits += 1
                except Exception as e:  # the test asserts there is none
                    self.errors.append(repr(e))
                    tm.abort()
                time.sleep(0.02)
        finally:
            conn.close()

    def finish(self):
        self.stop_flag.set()
        self.join(60)


def stall(backend, seconds: float):
    os.kill(backend.process.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(backend.process.pid, signal.SIGCONT)


def test_two_stalls_heal_by_themselves(make_cluster):
    # The scenario with default timeouts: a stall per mirror, one after
    # the other, while a client commits. A single ZEO server would have
    # recovered both times; so must the RAID.
    cluster = make_cluster(n_backends=2)
    db = cluster.db()
    committer = Committer(db, "x")
    committer.start()
    try:
        wait_until(lambda: committer.commits >= 10, 30, "first commits")
        stall(cluster.backends[0], 12)
        cluster.wait_raid_state("optimal", timeout=60)
        before = committer.commits
        wait_until(lambda: committer.commits >= before + 10, 30, "commits after heal")
        stall(cluster.backends[1], 12)
        cluster.wait_raid_state("optimal", timeout=60)
        before = committer.commits
        wait_until(lambda: committer.commits >= before + 10, 30, "commits after heal")
    finally:
        committer.finish()
    assert not committer.errors, committer.errors
    status = cluster.raidcore.status()
    assert status["state"] == "optimal"
    assert status["recovery"]["phase"] == "done", status
    assert_identical_histories(cluster)


def test_killed_backend_restarted_is_recovered_under_load(make_cluster, tmp_path):
    cluster = make_cluster(n_backends=2)
    workers = start_workers(cluster, 4, 60, tmp_path)
    wait_until(lambda: cluster.raidcore.status()["commits"] >= 40, 60,
               "the workload to get going")
    victim = cluster.backends[1]
    victim.kill()
    wait_until(lambda: backend_status(cluster, "backend2")["state"] == "degraded", 30,
               "backend2 noticed dead")
    dead_at = cluster.raidcore.status()["commits"]
    wait_until(lambda: cluster.raidcore.status()["commits"] >= dead_at + 40, 60,
               "commits while backend2 is down")
    victim.start(fixed_port=True)
    reports = finish_workers(workers)
    cluster.wait_raid_state("optimal", timeout=60)
    status = cluster.raidcore.status()
    history = assert_identical_histories(cluster)
    assert committed_tids(reports) <= {t.tid for t in history}
    recovery = status["recovery"]
    assert recovery["backend"] == "backend2" and recovery["phase"] == "done"
    assert recovery["mode"] == "incremental"
    copied = int(recovery["transactions_copied"])
    # Only what it missed: at least the commits made while it was down, far
    # fewer than the whole history.
    assert 40 <= copied < len(history) - 30, (copied, len(history))


def test_operator_recovers_with_auto_recovery_off(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_args=["--auto_recover=false"])
    db = cluster.db()
    tm, conn, root = open_conn(db)
    victim = cluster.backends[1]
    victim.kill()
    for i in range(30):
        root["k"] = i
        tm.commit()
    victim.start(fixed_port=True)
    time.sleep(3)  # auto-recovery would have started by now
    assert backend_status(cluster, "backend2")["state"] == "degraded"
    assert backend_status(cluster, "backend2")["auto_recover"] is False
    cluster.raidcore.admin("recover", "backend2")
    cluster.wait_raid_state("optimal", timeout=60)
    status = cluster.raidcore.status()
    assert int(status["recovery"]["transactions_copied"]) >= 30
    assert_identical_histories(cluster)
    # Nothing left to recover: refused with the reason.
    again = cluster.raidcore.admin("recover", "backend2", check=False)
    assert again.returncode != 0 and "not degraded" in again.stderr, again


def test_one_recovery_at_a_time_and_cancel(make_cluster):
    cluster = make_cluster(n_backends=3, raidcore_args=[
        "--auto_recover=false", "--recovery_transactions_per_second", "20"])
    db = cluster.db()
    tm, conn, root = open_conn(db)
    for b in cluster.backends[1:]:
        b.kill()
    for i in range(200):
        root["k"] = i
        tm.commit()
    for b in cluster.backends[1:]:
        b.start(fixed_port=True)
    cluster.raidcore.admin("recover", "backend2")
    second = cluster.raidcore.admin("recover", "backend3", check=False)
    assert second.returncode != 0
    assert "recovery of backend2 is running" in second.stderr, second
    wait_until(lambda: int(cluster.raidcore.status()["recovery"]
                           ["transactions_copied"]) >= 40, 30, "copying")
    progress = backend_status(cluster, "backend2")
    assert progress["state"] == "recovering"
    assert int(progress["recovery"]["transactions_estimated"]) > 0
    # The throttle holds: about 20 transactions a second.
    assert float(progress["recovery"]["transactions_per_second"]) < 30
    cluster.raidcore.admin("cancel")
    wait_until(lambda: backend_status(cluster, "backend2")["state"] == "degraded", 30,
               "cancelled recovery to leave the backend degraded")
    assert cluster.raidcore.status()["recovery"]["phase"] == "cancelled"
    # Commits go on; a new recovery resumes incrementally, at full speed.
    root["k"] = "after"
    tm.commit()
    cluster.raidcore.admin("rate", "--transactions_per_second", "0")
    cluster.raidcore.admin("recover", "backend2")
    wait_until(lambda: backend_status(cluster, "backend2")["state"] == "optimal", 60,
               "backend2 recovered")
    cluster.raidcore.admin("recover", "backend3")
    cluster.wait_raid_state("optimal", timeout=60)
    assert_identical_histories(cluster)


def test_diverged_backend_is_refused_never_merged(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_args=["--auto_recover=false"])
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["x"] = 1
    tm.commit()
    victim = cluster.backends[1]
    victim.stop()
    root["x"] = 2
    tm.commit()
    victim.start(fixed_port=True)
    # Someone writes straight to backend2 while it is out of the RAID.
    direct = ClientStorage(victim.addr, storage=STORAGE_NAME, wait_timeout=30)
    import ZODB
    ddb = ZODB.DB(direct)
    dtm, dconn, droot = open_conn(ddb)
    droot["x"] = "rogue"
    dtm.commit()
    ddb.close()
    rogue = victim.history()
    cluster.raidcore.admin("recover", "backend2")
    wait_until(lambda: cluster.raidcore.status()["recovery"]["phase"] == "failed", 30,
               "the recovery to be refused")
    status = backend_status(cluster, "backend2")
    assert status["state"] == "degraded"
    assert "diverged" in status["reason"], status
    assert status["auto_recover"] is False
    assert victim.history() == rogue, "the diverged backend was written to"


def test_restart_with_newest_mirror_down_refuses_commits(make_cluster):
    # The lost-commit scenario: x=2 only on backend1; raidcore restarts while
    # backend1 is down. It must not serve backend2's x=1.
    cluster = make_cluster(n_backends=2, raidcore_args=["--startup_wait", "2s"])
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["x"] = 1
    tm.commit()
    b1, b2 = cluster.backends
    b2.stop()
    root["x"] = 2
    tm.commit()
    cluster.close_clients()
    cluster.raidcore.stop()
    b1.stop()
    b2.start(fixed_port=True)
    cluster.raidcore.start(fixed_port=True)
    status = cluster.raidcore.status()
    assert status["state"] == "failed", status
    assert "backend1" in status["waiting_for"], status
    b1.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=60)
    db = cluster.db()
    tm, conn, root = open_conn(db)
    assert root["x"] == 2
    assert_identical_histories(cluster)


def test_degraded_start_is_allowed_by_flag(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_args=[
        "--startup_wait", "2s", "--allow_degraded_start"])
    b1, b2 = cluster.backends
    cluster.raidcore.stop()
    b2.stop()
    cluster.raidcore.start(fixed_port=True)
    status = cluster.raidcore.status()
    assert status["state"] == "degraded", status
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["y"] = 1
    tm.commit()
    b2.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=60)
    assert_identical_histories(cluster)


def build_rich_history(cluster, n: int) -> None:
    """About ``n`` transactions through the RAID with what a copy must carry:
    extensions, undone transactions, deleted objects and a pack in the middle."""
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import z64
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["log"] = PersistentMapping()
    tm.commit()
    storage = cluster.client_storage()
    done = 1
    while done < n:
        for i in range(50):
            root["log"][done % 40] = PersistentMapping(n=done)
            t = tm.get()
            t.note(f"commit {done}")
            t.setExtendedInfo("seq", done)
            t.setExtendedInfo("who", "test_recovery")
            tm.commit()
            done += 1
        # Undo the last one.
        undo_id = db.undoLog(0, 1)[0]["id"]
        db.undo(undo_id, tm.get())
        tm.commit()
        done += 1
        # An object deleted by external GC (a record with no data).
        oid = storage.new_oid()
        txn = TransactionMetaData(description="create to delete")
        storage.tpc_begin(txn)
        storage.store(oid, z64, b"(dp0\n.", "", txn)  # any pickle: never loaded
        storage.tpc_vote(txn)
        tid = storage.tpc_finish(txn)
        txn = TransactionMetaData(description="gc")
        storage.tpc_begin(txn)
        storage.deleteObject(oid, tid, txn)
        storage.tpc_vote(txn)
        storage.tpc_finish(txn)
        done += 2
        if 300 <= done < 353:  # packs away the first few hundred
            db.pack(time.time())
    tm.abort()


def test_empty_backend_is_rebuilt_in_full(make_cluster):
    cluster = make_cluster(n_backends=2)
    build_rich_history(cluster, 2400)
    victim = cluster.backends[1]
    victim.stop()
    wait_until(lambda: backend_status(cluster, "backend2")["state"] == "degraded", 30,
               "the heartbeat to notice backend2 stopped")
    for f in victim.dir.glob("Data.fs*"):
        f.unlink()
    victim.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=150)
    history = assert_identical_histories(cluster)
    assert len(history) >= 2000
    kinds = {"undo": False, "deleted": False, "extension": False}
    for t in history:
        kinds["extension"] |= t.extension.get("who") == "test_recovery"
        for r in t.records:
            kinds["undo"] |= r.data_txn is not None and r.data is not None
            kinds["deleted"] |= r.data is None
    assert all(kinds.values()), kinds
    recovery = cluster.raidcore.status()["recovery"]
    assert recovery["mode"] == "full" and recovery["phase"] == "done", recovery
    assert int(recovery["transactions_copied"]) == len(history)


def slow_down_recovery(cluster, commits: int, per_second: int = 50):
    """Commits ``commits`` transactions while backend2 is down, then throttles
    recovery so a test can act while it copies."""
    db = cluster.db()
    tm, conn, root = open_conn(db)
    for i in range(commits):
        root["k"] = i
        tm.commit()
    cluster.raidcore.admin("rate", "--transactions_per_second", str(per_second))
    return tm, root


def copied(cluster) -> int:
    recovery = cluster.raidcore.status().get("recovery") or {}
    return int(recovery.get("transactions_copied", 0))


def test_source_dies_mid_copy_another_source_takes_over(make_cluster):
    cluster = make_cluster(n_backends=3)
    b1, b2, b3 = cluster.backends
    b3.kill()
    tm, root = slow_down_recovery(cluster, 300)
    b3.start(fixed_port=True)
    wait_until(lambda: copied(cluster) >= 30, 60, "recovery of backend3 copying")
    assert cluster.raidcore.status()["recovery"]["source"] == "backend1"
    b1.kill()  # the source
    root["k"] = "during"  # the RAID still commits
    tm.commit()
    cluster.raidcore.admin("rate", "--transactions_per_second", "0")
    wait_until(lambda: backend_status(cluster, "backend3")["state"] == "optimal", 90,
               "backend3 recovered from backend2")
    assert cluster.raidcore.status()["recovery"]["source"] == "backend2"
    assert b2.history() == b3.history()
    b1.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=60)
    assert_identical_histories(cluster)


def test_target_dies_mid_copy_and_is_recovered_later(make_cluster):
    cluster = make_cluster(n_backends=2)
    b1, b2 = cluster.backends
    b2.kill()
    tm, root = slow_down_recovery(cluster, 300)
    b2.start(fixed_port=True)
    wait_until(lambda: copied(cluster) >= 30, 60, "recovery copying")
    b2.kill()
    wait_until(lambda: cluster.raidcore.status()["recovery"]["phase"] == "failed", 30,
               "the recovery to fail with its target")
    assert backend_status(cluster, "backend2")["state"] == "degraded"
    root["k"] = "during"
    tm.commit()
    cluster.raidcore.admin("rate", "--transactions_per_second", "0")
    b2.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=60)
    assert_identical_histories(cluster)
    # Resumed where the partial copy ended, not from the start.
    assert copied(cluster) < 300


def test_raidcore_restart_mid_recovery_never_trusts_a_partial_copy(make_cluster):
    cluster = make_cluster(n_backends=2)
    b1, b2 = cluster.backends
    b2.kill()
    slow_down_recovery(cluster, 300)
    cluster.close_clients()
    b2.start(fixed_port=True)
    wait_until(lambda: copied(cluster) >= 30, 60, "recovery copying")
    cluster.raidcore.kill()
    cluster.raidcore.start(fixed_port=True)
    status = backend_status(cluster, "backend2")
    assert status["state"] != "optimal", status
    cluster.wait_raid_state("optimal", timeout=90)
    recovery = cluster.raidcore.status()["recovery"]
    assert recovery["mode"] == "incremental" and int(recovery["transactions_copied"]) < 300
    assert_identical_histories(cluster)


PATCHED_RUNZEO = os.path.join(os.path.dirname(__file__), "patched_runzeo.py")


def restart_patched(cluster, backend, *options: str):
    """Restarts ``backend`` as patched_runzeo.py with ``options`` and waits until
    the RAID has it back."""
    import sys
    backend.stop()
    wait_until(lambda: backend_status(cluster, backend.name)["state"] == "degraded",
               30, f"the heartbeat to notice {backend.name} stopped")
    backend.argv = lambda: [sys.executable, PATCHED_RUNZEO, *options, "-C",
                            str(backend.conf)]
    backend.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=60)


def test_idle_stopped_backend_is_noticed_and_health_follows(make_cluster):
    """No traffic at all: a stopped backend is degraded by the heartbeat and its
    grpc.health.v1 service turns NOT_SERVING; once it runs again it is recovered
    and SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from harness import format_addr
    cluster = make_cluster(n_backends=2, raidcore_args=[
        "--heartbeat_interval", "500ms", "--heartbeat_timeout", "2s"])
    channel = grpc.insecure_channel(format_addr(cluster.raidcore.addr))
    health = health_pb2_grpc.HealthStub(channel)

    def status(service):
        return health.Check(health_pb2.HealthCheckRequest(service=service),
                            timeout=10).status

    b2 = cluster.backends[1]
    try:
        assert status("backend2") == health_pb2.HealthCheckResponse.SERVING
        os.kill(b2.process.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            wait_until(lambda: status("backend2") ==
                       health_pb2.HealthCheckResponse.NOT_SERVING, 15,
                       "backend2 NOT_SERVING")
            noticed = time.monotonic() - t0
            reason = backend_status(cluster, "backend2")["reason"]
        finally:
            os.kill(b2.process.pid, signal.SIGCONT)
        assert noticed < 2 + 0.5 + 2, noticed  # timeout + interval + slack
        assert "heartbeat" in reason
        wait_until(lambda: status("backend2") ==
                   health_pb2.HealthCheckResponse.SERVING, 30, "backend2 SERVING")
    finally:
        channel.close()


def test_slow_undo_info_does_not_degrade_a_backend(make_cluster):
    """undoInfo/undoLog can take long on a big database: longer than
    --backend_timeout is no reason to degrade a backend that answers."""
    cluster = make_cluster(n_backends=2, raidcore_args=[
        "--backend_timeout", "2s", "--heartbeat_timeout", "10s"])
    for b in cluster.backends:
        restart_patched(cluster, b, "--slow-undo", "4")
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["x"] = 1
    tm.get().note("set x")
    tm.commit()
    log_entries = db.undoInfo(0, 10)
    assert log_entries[0]["description"] in (b"set x", "set x")
    assert cluster.raidcore.status()["state"] == "optimal"


def test_raidcore_killed_between_two_finishes(make_cluster, tmp_path):
    cluster = make_cluster(n_backends=2)
    b1, b2 = cluster.backends
    marker = tmp_path / "hold-finish"
    restart_patched(cluster, b2, "--hold-finish", str(marker))
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["x"] = 1
    tm.commit()
    before = len(b1.history())
    marker.write_text("hold")
    done = threading.Event()

    def commit_x2():
        try:
            root["x"] = 2
            tm.commit()
        except Exception:
            pass
        finally:
            done.set()

    threading.Thread(target=commit_x2, daemon=True).start()
    # backend1 committed; backend2 holds its tpc_finish.
    wait_until(lambda: len(b1.history()) > before, 30, "backend1 to commit x=2")
    cluster.raidcore.kill()
    b2.kill()  # crashes in the middle of its tpc_finish
    marker.unlink()
    x2_tid = b1.history()[-1].tid
    b2.start(fixed_port=True)
    cluster.raidcore.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=90)
    history = assert_identical_histories(cluster)
    assert history[-1].tid == x2_tid
    cluster.close_clients()
    done.wait(30)
    db = cluster.db()
    tm, conn, root = open_conn(db)
    assert root["x"] == 2
