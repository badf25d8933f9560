"""RAID-1 system tests: mirrored commits across several real runzeo backends, degrade
without the application noticing, reads spread, lock hygiene, several translators.

These need raidcore (they are skipped with ZEORAID_TARGET=plain).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage

from harness import (STORAGE_NAME, Translator, describe_history, format_addr,
                     open_conn, wait_until)

log = logging.getLogger("zeoraid.tests.raid")
pytestmark = pytest.mark.raid_only

WORKLOAD = Path(__file__).with_name("workload.py")


def start_workers(cluster, n: int, commits: int, tmp_path: Path, addr=None,
                  reads: int = 0) -> list[tuple[subprocess.Popen, Path]]:
    # The root object first: ZODB clients that all find an empty database race to
    # create it (ReadConflictError), with plain ZEO as much as through the RAID.
    cluster.db().close()
    workers = []
    for i in range(n):
        out = tmp_path / f"worker{i}.json"
        argv = [sys.executable, str(WORKLOAD), "--addr", format_addr(addr or cluster.addr),
                "--worker", str(i), "--commits", str(commits), "--reads", str(reads),
                "--out", str(out)]
        log_file = open(tmp_path / f"worker{i}.log", "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)
        log_file.close()
        workers.append((proc, out))
    return workers


def finish_workers(workers, timeout: float = 150) -> list[dict]:
    reports = []
    for proc, out in workers:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"worker {out} did not finish in {timeout}s")
        report = json.loads(out.read_text())
        assert not report["errors"], f"worker {report['worker']} saw errors: {report['errors']}"
        assert proc.returncode == 0
        reports.append(report)
    return reports


def committed_tids(reports) -> set[bytes]:
    return {bytes.fromhex(c["tid"]) for r in reports for c in r["commits"]}


def status_by_name(cluster) -> dict[str, dict]:
    return {b["name"]: b for b in cluster.raidcore.status()["backends"]}


def test_three_backends_four_clients_stay_identical(make_cluster, tmp_path):
    cluster = make_cluster(n_backends=3)
    reports = finish_workers(start_workers(cluster, 4, 25, tmp_path, reads=2))
    tids = committed_tids(reports)
    assert len(tids) == 100, "every commit has its own tid"

    histories = cluster.backend_histories()
    first = histories["backend1"]
    for name, history in histories.items():
        assert history == first, (
            f"{name} differs from backend1:\n{describe_history(history)}\nvs\n"
            f"{describe_history(first)}")
    backend_tids = [t.tid for t in first]
    assert backend_tids == sorted(backend_tids)
    # Every client commit is there, with the value the client wrote; besides them only
    # the root creation and the workers' set-up transactions.
    assert tids <= set(backend_tids)
    by_tid = {t.tid: t for t in first}
    for r in reports:
        for c in r["commits"]:
            txn = by_tid[bytes.fromhex(c["tid"])]
            assert bytes.fromhex(c["oid"]) in txn.oids
            assert txn.description == f"w{r['worker']} commit {c['value']}".encode()
    assert len(backend_tids) - len(tids) <= 1 + 4
    status = cluster.raidcore.status()
    assert status["state"] == "optimal"
    assert {b["last_tid"] for b in status["backends"]} == {backend_tids[-1].hex()}


def test_killed_and_stopped_backends_degrade_unnoticed(make_cluster, tmp_path):
    cluster = make_cluster(n_backends=3, raidcore_args=["--backend_timeout", "2s"])
    workers = start_workers(cluster, 4, 40, tmp_path, reads=1)
    wait_until(lambda: cluster.raidcore.status()["commits"] >= 30, 60,
               "the workload to get going")
    cluster.backends[1].kill()
    wait_until(lambda: cluster.raidcore.status()["commits"] >= 70, 60,
               "commits after killing backend2")
    stopped = cluster.backends[2]
    os.kill(stopped.process.pid, signal.SIGSTOP)
    try:
        reports = finish_workers(workers)
        status = status_by_name(cluster)
    finally:
        os.kill(stopped.process.pid, signal.SIGCONT)
    assert status["backend1"]["state"] == "optimal"
    assert status["backend2"]["state"] == "degraded", status
    assert status["backend3"]["state"] == "degraded", status
    assert status["backend2"]["reason"] and status["backend3"]["reason"]
    assert cluster.raidcore.status()["state"] == "degraded"
    survivor = {t.tid for t in cluster.backends[0].history()}
    missing = committed_tids(reports) - survivor
    assert not missing, f"survivor lacks committed tids {sorted(m.hex() for m in missing)}"


def test_reads_are_spread_over_backends(make_cluster):
    cluster = make_cluster(n_backends=3)
    db = cluster.db()
    tm, conn, _ = open_conn(db)
    conn.root()["x"] = PersistentMapping(v=1)
    tm.commit()
    storage = cluster.client_storage()
    oid = conn.root()["x"]._p_oid
    for _ in range(60):
        storage._cache.clear()
        storage.load(oid)
    loads = {}
    for b in cluster.backends:
        direct = ClientStorage(b.addr, storage=STORAGE_NAME, read_only=True,
                               wait_timeout=10)
        try:
            loads[b.name] = direct.server_status()["loads"]
        finally:
            direct.close()
    assert all(n >= 10 for n in loads.values()), f"loads per backend: {loads}"


def voting_client_script(addr) -> str:
    return f"""
import os, sys, time
from ZEO.ClientStorage import ClientStorage
from ZODB.Connection import TransactionMetaData
s = ClientStorage({addr!r}, wait_timeout=30)
oid = s.new_oid()
t = TransactionMetaData(description=b'never finished')
s.tpc_begin(t)
s.store(oid, b'\\0' * 8, b'half-committed', '', t)
s.tpc_vote(t)
print(oid.hex(), flush=True)
time.sleep(600)
"""


def test_client_killed_between_vote_and_finish(make_cluster):
    cluster = make_cluster(n_backends=2)
    proc = subprocess.Popen([sys.executable, "-c", voting_client_script(cluster.addr)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        oid = bytes.fromhex(proc.stdout.readline().decode().strip())
    finally:
        proc.kill()
        proc.wait()
    t0 = time.monotonic()
    db = cluster.db()
    tm, conn, _ = open_conn(db)
    conn.root()["after"] = 1
    tm.commit()
    log.info("next commit went through %.2fs after the kill", time.monotonic() - t0)
    for name, history in cluster.backend_histories().items():
        assert all(oid not in t.oids for t in history), f"{name} holds the aborted store"
        assert all(t.description != b"never finished" for t in history)
    assert cluster.raidcore.status()["state"] == "optimal"


def test_translator_killed_between_vote_and_finish(make_cluster):
    cluster = make_cluster(n_backends=2)
    second = Translator(cluster.supervisor, cluster.raidcore, name="translator2")
    second.start()
    proc = subprocess.Popen([sys.executable, "-c", voting_client_script(cluster.addr)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        oid = bytes.fromhex(proc.stdout.readline().decode().strip())
        cluster.translator.kill()  # holds the commit lock for that client
        t0 = time.monotonic()
        db = cluster.db(addr=second.addr)
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        conn.root()["after"] = 1
        tm.commit()
        log.info("commit through translator2 %.2fs after the kill",
                 time.monotonic() - t0)
    finally:
        proc.kill()
        proc.wait()
    for name, history in cluster.backend_histories().items():
        assert all(oid not in t.oids for t in history), f"{name} holds the aborted store"


def test_clients_on_two_translators_see_each_other(make_cluster):
    cluster = make_cluster(n_backends=2)
    second = Translator(cluster.supervisor, cluster.raidcore, name="translator2")
    second.start()
    db1 = cluster.db()
    db2 = cluster.db(addr=second.addr)
    tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
    c1 = db1.open(transaction_manager=tm1)
    c2 = db2.open(transaction_manager=tm2)
    c1.root()["m"] = PersistentMapping(v="one")
    tm1.commit()
    tid1 = c1.root()["m"]._p_serial
    wait_until(lambda: db2.storage.lastTransaction() >= tid1, 10,
               "translator2's client to hear of translator1's commit")
    tm2.begin()
    assert c2.root()["m"]["v"] == "one"
    c2.root()["m"]["v"] = "two"
    tm2.commit()
    tid2 = c2.root()["m"]._p_serial
    wait_until(lambda: db1.storage.lastTransaction() >= tid2, 10,
               "translator1's client to hear of translator2's commit")
    tm1.begin()
    assert c1.root()["m"]["v"] == "two"


def test_pack_and_undo_keep_mirrors_identical(make_cluster):
    cluster = make_cluster(n_backends=2)
    db = cluster.db()
    tm, conn, _ = open_conn(db)
    conn.root()["x"] = PersistentMapping(v=1)
    tm.commit()
    conn.root()["x"]["v"] = 2
    tm.get().note("set to 2")
    tm.commit()
    log_entries = db.undoLog(0, 10)
    assert log_entries[0]["description"] in (b"set to 2", "set to 2")
    db.undo(log_entries[0]["id"], tm.get())  # db.undo joins the default manager otherwise
    tm.commit()
    tm.begin()
    assert conn.root()["x"]["v"] == 1
    before_pack = cluster.backend_histories()
    assert before_pack["backend1"] == before_pack["backend2"]
    assert len(before_pack["backend1"]) == 4
    db.pack(time.time() + 1)
    after = cluster.backend_histories()
    assert after["backend1"] == after["backend2"]
    assert len(after["backend1"]) < 4, "pack removed old transactions on every mirror"
    tm.begin()
    assert conn.root()["x"]["v"] == 1


def test_stalled_client_loses_the_commit_lock(make_cluster):
    """A client that votes and then stops answering (SIGSTOP: its connection stays
    open) holds the commit lock only for --commit_lock_timeout."""
    cluster = make_cluster(n_backends=2, raidcore_args=["--commit_lock_timeout", "2s"])
    proc = subprocess.Popen([sys.executable, "-c", voting_client_script(cluster.addr)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        oid = bytes.fromhex(proc.stdout.readline().decode().strip())
        os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        db = cluster.db()
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        conn.root()["after"] = 1
        tm.commit()
        waited = time.monotonic() - t0
        log.info("commit went through %.2fs after the stalled client voted", waited)
        assert waited >= 1.5, "the stalled transaction's lock was not held at all?"
    finally:
        proc.kill()
        proc.wait()
    for name, history in cluster.backend_histories().items():
        assert all(oid not in t.oids for t in history), f"{name} holds the aborted store"
    assert cluster.raidcore.status()["state"] == "optimal"


def test_client_cache_stays_correct_across_translator_restart(make_cluster, tmp_path):
    """A client with a persistent cache reconnects after its translator restarts; the
    commits made meanwhile reach it through getInvalidations (raidcore's queue)."""
    cluster = make_cluster(n_backends=2)
    second = Translator(cluster.supervisor, cluster.raidcore, name="translator2")
    second.start()
    cached = cluster.db(client="cached", var=str(tmp_path))
    tm = transaction.TransactionManager()
    conn = cached.open(transaction_manager=tm)
    conn.root()["a"] = PersistentMapping(v=1)
    conn.root()["b"] = PersistentMapping(v=1)
    tm.commit()
    assert conn.root()["a"]["v"] == 1  # now in the client's cache

    cluster.translator.stop()
    other = cluster.db(addr=second.addr)
    otm = transaction.TransactionManager()
    oconn = other.open(transaction_manager=otm)
    oconn.root()["a"]["v"] = 2
    otm.commit()
    changed = oconn.root()["a"]._p_serial
    cluster.translator.start(fixed_port=True)

    wait_until(lambda: cached.storage.is_connected() and
               cached.storage.lastTransaction() >= changed, 30,
               "the cached client to reconnect and catch up")
    tm.begin()
    assert conn.root()["a"]["v"] == 2, "stale object served from the client cache"
    assert conn.root()["b"]["v"] == 1
    # The reconnect was answered from raidcore's queue (getInvalidations gave the
    # changed oids), not by dropping the whole cache.
    assert cached.storage._server.client.verify_result == "quick verification"


def test_raidcore_reads_its_config_file(make_cluster, tmp_path):
    from harness import Raidcore, binary
    cluster = make_cluster(n_backends=2)
    bad = tmp_path / "bad.conf"
    bad.write_text('storage: "1"\nbackend { name: "a" adress: "x:1" }\n')
    result = subprocess.run([str(binary("raidcore", "zeoraid-raidcore")),
                             "--config", str(bad)], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert f"{bad}:2:" in result.stderr and "adress" in result.stderr, result.stderr

    good = tmp_path / "raid.conf"
    lines = [f'backend {{ name: "{b.name}-conf" address: "{format_addr(b.addr)}" }}'
             for b in cluster.backends]
    good.write_text('storage: "1"\nbackend_timeout_seconds: 3\n' + "\n".join(lines))
    second = Raidcore(cluster.supervisor, [], name="raidcore-conf",
                      extra_args=["--config", str(good)])
    second.start()
    status = second.status()
    assert [b["name"] for b in status["backends"]] == ["backend1-conf", "backend2-conf"]
    assert status["state"] == "optimal"
    assert "backend_timeout_seconds: 3 " in second.process.log_text()

    # A flag given on the command line wins over the file, even at its default.
    third = Raidcore(cluster.supervisor, [], name="raidcore-flag",
                     extra_args=["--config", str(good), "--backend_timeout=10s"])
    third.start()
    assert third.status()["state"] == "optimal"
    settings = [line for line in third.process.log_text().splitlines()
                if "settings:" in line]
    assert settings and "backend_timeout_seconds: 10 " in settings[0], settings


def test_health_follows_backend_and_raid_state(make_cluster):
    """grpc.health.v1 over a real gRPC client: "" serves while one backend does;
    each backend's name serves while it is optimal."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    cluster = make_cluster(n_backends=2)
    channel = grpc.insecure_channel(format_addr(cluster.raidcore.addr))
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING

    def status(service):
        return health.Check(health_pb2.HealthCheckRequest(service=service),
                            timeout=10).status

    try:
        assert status("") == serving
        assert status("backend1") == serving
        with pytest.raises(grpc.RpcError) as unknown:
            status("no-such-backend")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        cluster.backends[0].kill()
        db = cluster.db()  # a commit finds backend1 gone
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        conn.root()["x"] = 1
        tm.commit()
        assert status("backend1") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert status("backend2") == serving
        assert status("") == serving
    finally:
        channel.close()


def test_msgpack_backends_refuse_what_msgpack_cannot_carry(make_cluster):
    """Backends that speak msgpack (M5) cannot carry a set or a str with lone
    surrogates, which a pickle client may put in a transaction's extension: the
    commit fails with StorageError instead of mirroring None in their place, the
    RAID stays optimal, and the next commit works."""
    from ZODB.POSException import StorageError
    cluster = make_cluster(n_backends=2, zeo_conf="msgpack true\n")
    db = cluster.db()
    tm, conn, _ = open_conn(db)
    conn.root()["x"] = 1
    tm.commit()
    for bad in ({1, 2}, "lone \udcff surrogate"):
        conn.root()["x"] = 2
        tm.get().setExtendedInfo("bad", bad)
        with pytest.raises(StorageError, match="msgpack cannot"):
            tm.commit()
        tm.abort()
    conn.root()["x"] = 3
    tm.get().setExtendedInfo("fine", "yes")
    tm.commit()
    assert cluster.raidcore.status()["state"] == "optimal"
    histories = [b.history() for b in cluster.backends]
    assert histories[0] == histories[1], (
        f"{describe_history(histories[0])}\nvs\n{describe_history(histories[1])}")
    assert all("bad" not in t.extension for t in histories[0])
    assert histories[0][-1].extension == {"fine": "yes"}


def test_backend_that_cannot_take_a_tid_is_refused_with_the_reason(tmp_path):
    """A mirror must commit each transaction with the RAID's tid; ZEO passes it as
    storage.tpc_begin(txn, tid, status), which a MappingStorage cannot take (every
    vote raised TypeError). raidcore refuses such a backend, saying why."""
    import harness
    cluster = harness.Cluster(tmp_path, kind="raid", n_backends=2,
                              raidcore_args=["--startup_wait", "1s"])
    for b in cluster.backends:
        def prepare(b=b):
            b.dir.mkdir(parents=True, exist_ok=True)
            b.conf.write_text(f"<zeo>\n  address {format_addr(b.addr)}\n</zeo>\n"
                              f"<mappingstorage {STORAGE_NAME}>\n</mappingstorage>\n")
        b.prepare = prepare
    try:
        for b in cluster.backends:
            b.start()
        cluster.raidcore.start()
        wait_until(lambda: all("IStorageRestoreable" in b["reason"]
                               for b in cluster.raidcore.status()["backends"]), 20,
                   "both backends refused with the reason")
        assert cluster.raidcore.status()["state"] == "failed"
        assert "IStorageRestoreable" in cluster.raidcore.process.log_text()
    finally:
        cluster.stop()
