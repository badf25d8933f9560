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
        stall(cluster.backends[0], 9)
        cluster.wait_raid_state("optimal", timeout=60)
        before = committer.commits
        wait_until(lambda: committer.commits >= before + 10, 30, "commits after heal")
        stall(cluster.backends[1], 9)
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
