"""ZODB blobs through the RAID: stored on every mirror, read back, failed over.

A ZODB client with a private blob directory (ClientStorage(blob_dir=...), ZEO's
default) sends a blob as storeBlobStart / storeBlobChunk... / storeBlobEnd and reads
one with sendBlob, the server answering with receiveBlobStart / receiveBlobChunk... /
receiveBlobStop. Through the RAID each blob must land, byte for byte, in every
backend's blob directory, come back to another client, survive the loss of a mirror,
and cross raidcore and the translator without being held whole in memory.

Runs against plain ZEO too (ZEORAID_TARGET=plain) where it makes sense.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import transaction

import harness

raid_only = pytest.mark.raid_only


def blob_bytes(n: int, seed: int) -> bytes:
    """n bytes that differ per seed and per position (no two blobs alike)."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048  # 64 KiB
    reps = n // len(block) + 1
    return (block * reps)[:n]


def write_blobs(db, sizes: list[int]) -> list[tuple[bytes, str]]:
    """Commits one ZODB.blob.Blob per size, one transaction each, as blob0...;
    returns (oid, sha256 of the content) per blob."""
    return write_blobs_at(db, 0, sizes)


def read_blobs(db, count: int) -> list[str]:
    """sha256 of blob0..blob{count-1}, read through a fresh connection."""
    conn = db.open()
    try:
        root = conn.root()
        digests = []
        for i in range(count):
            with root[f"blob{i}"].open("r") as f:
                digests.append(hashlib.sha256(f.read()).hexdigest())
        return digests
    finally:
        transaction.abort()
        conn.close()


def blob_files(backend: harness.ZeoBackend) -> dict[str, str]:
    """Every committed blob file in a backend's blob directory: relative path ->
    sha256."""
    out = {}
    for path in sorted(Path(backend.blob_dir).rglob("*.blob")):
        out[str(path.relative_to(backend.blob_dir))] = hashlib.sha256(
            path.read_bytes()).hexdigest()
    return out


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


SIZES = [0, 1, 1000, 59000, 59001, 300_000, 3_000_000]


def test_blobs_round_trip_to_another_client(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    writer = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    written = write_blobs(writer, SIZES)
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    assert read_blobs(reader, len(SIZES)) == [d for _, d in written]
    # The writer reads its own blobs from its cache; after clearing it, from the
    # server again.
    writer.close()
    again = cluster.db(blob_dir=str(tmp_path / "blobs-c"))
    assert read_blobs(again, len(SIZES)) == [d for _, d in written]


@raid_only
def test_every_mirror_has_every_blob_file_byte_for_byte(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    written = write_blobs(db, SIZES)
    files = [blob_files(b) for b in cluster.backends]
    assert len(files[0]) == len(SIZES), files[0]
    assert files[0] == files[1]
    assert sorted(files[0].values()) == sorted(d for _, d in written)


@raid_only
def test_a_blob_is_read_from_the_other_mirror_when_one_is_gone(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    written = write_blobs(db, SIZES[:4])
    cluster.backends[0].kill()
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    # Reads alternate between mirrors: several of them hit the dead one first.
    assert read_blobs(reader, 4) == [d for _, d in written]
    cluster.wait_raid_state("degraded")


def test_a_missing_blob_is_a_poskeyerror(make_cluster, tmp_path):
    from ZODB.POSException import POSKeyError
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    (oid, _), = write_blobs(db, [10])
    storage = cluster.client_storage(blob_dir=str(tmp_path / "blobs-b"))
    with pytest.raises(POSKeyError):
        storage.loadBlob(oid, b"\0" * 7 + b"\1")  # no such revision
    # The connection is still good.
    assert storage.loadBlob(oid, storage.lastTransaction())


@raid_only
def test_shared_blob_directories_are_refused_at_commit(make_cluster, tmp_path):
    from ZODB.POSException import StorageError
    from ZODB.blob import Blob
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "shared"), shared_blob_dir=True)
    conn = db.open()
    before = conn._storage.lastTransaction()
    blob = Blob()
    with blob.open("w") as f:
        f.write(b"x" * 100)
    conn.root()["b"] = blob
    with pytest.raises(StorageError, match="shared blob directories"):
        transaction.commit()
    transaction.abort()
    conn.close()
    # Nothing was committed, and the connection still works.
    storage = cluster.client_storage()
    assert storage.lastTransaction() == before


@raid_only
def test_a_big_blob_is_streamed_not_held_in_memory(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    procs = {p.name: p.pid for p in cluster.supervisor.processes
             if p.name in ("raidcore", "translator")}
    # Warm up (connections, first commit), then measure the growth of the peak.
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    write_blobs(db, [1000])
    base = {name: rss_mb(pid) for name, pid in procs.items()}
    size = 200 << 20
    t0 = time.monotonic()
    written = write_blobs(db, [size])
    stored = time.monotonic() - t0
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    assert read_blobs(reader, 1) == [d for _, d in written]
    growth = {name: peak_rss_mb(pid) - base[name] for name, pid in procs.items()}
    print(f"200 MiB blob stored in {stored:.1f}s; peak RSS growth {growth}")
    for name, mb in growth.items():
        # Issue 15: under 100 MB above idle while a 200 MB blob is stored
        # (measured: about 10-15 MB, gRPC's buffers).
        assert mb < 100, f"{name} grew by {mb:.0f} MB for a 200 MiB blob"
    files = [blob_files(b) for b in cluster.backends]
    assert files[0] == files[1]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def backend_state(cluster, name: str) -> str:
    for b in cluster.raidcore.status()["backends"]:
        if b["name"] == name:
            return b["state"]
    raise KeyError(name)


def undo_last(db) -> None:
    """Undoes the last transaction (a blob change): the backends link the old blob
    file to the new tid (an undo record is a backpointer)."""
    tid = db.undoLog(0, 1)[0]["id"]
    db.undo(tid)
    transaction.commit()


def replace_blob(db, key: str, content: bytes) -> None:
    conn = db.open()
    try:
        with conn.root()[key].open("w") as f:
            f.write(content)
        transaction.commit()
    finally:
        transaction.abort()
        conn.close()


@raid_only
@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_recovery_copies_every_blob_file(make_cluster, tmp_path, mode):
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    written = write_blobs(db, SIZES[:5])
    victim = cluster.backends[1]
    victim.stop()
    wait_until(lambda: backend_state(cluster, "backend2") == "degraded", 30,
               "backend2 noticed stopped")
    if mode == "full":
        for f in victim.dir.glob("Data.fs*"):
            f.unlink()
        import shutil
        shutil.rmtree(victim.blob_dir)
    # While it is down: new blobs, a changed blob, and an undo of that change
    # (a backpointer record whose blob file the backend links anew).
    written += write_blobs_at(db, 5, [200_000, 2_500_000])
    replace_blob(db, "blob1", b"changed")
    undo_last(db)
    victim.start(fixed_port=True)
    cluster.wait_raid_state("optimal", timeout=120)
    recovery = cluster.raidcore.status()["recovery"]
    assert recovery["phase"] == "done" and recovery["mode"] == mode, recovery
    files = [blob_files(b) for b in cluster.backends]
    assert files[0] == files[1], (sorted(set(files[0]) ^ set(files[1])))
    # Every revision's file: 7 blobs, the change and its undo.
    assert len(files[0]) == 9, files[0]
    if mode == "incremental":
        # Again: the recovered mirror's last transaction is the undo, which it
        # holds as a stored blob rather than a backpointer; the next incremental
        # recovery must still find it the same transaction as the source's.
        victim.stop()
        wait_until(lambda: backend_state(cluster, "backend2") == "degraded", 30,
                   "backend2 noticed stopped again")
        written += write_blobs_at(db, 7, [123_456])
        victim.start(fixed_port=True)
        cluster.wait_raid_state("optimal", timeout=120)
        recovery = cluster.raidcore.status()["recovery"]
        assert recovery["phase"] == "done" and recovery["mode"] == mode, recovery
        files = [blob_files(b) for b in cluster.backends]
        assert files[0] == files[1]
    # And a client reading from the recovered mirror alone gets every blob.
    cluster.backends[0].kill()
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    assert read_blobs(reader, len(written)) == [d for _, d in written]


def write_blobs_at(db, first: int, sizes: list[int]) -> list[tuple[bytes, str]]:
    """Commits one ZODB.blob.Blob per size, one transaction each, as root keys
    blob{first}, blob{first + 1}...; the content is seeded by the key's number.
    Returns (oid, sha256 of the content) per blob."""
    from ZODB.blob import Blob
    out = []
    conn = db.open()
    try:
        root = conn.root()
        for i, n in enumerate(sizes, start=first):
            blob = Blob()
            with blob.open("w") as f:
                f.write(blob_bytes(n, i))
            root[f"blob{i}"] = blob
            transaction.commit()
            out.append((blob._p_oid, hashlib.sha256(blob_bytes(n, i)).hexdigest()))
    finally:
        transaction.abort()
        conn.close()
    return out


@raid_only
def test_blobs_are_announced_only_when_every_mirror_keeps_them(make_cluster, tmp_path):
    from ZODB.POSException import Unsupported
    from ZODB.interfaces import IBlobStorage
    from ZODB.blob import Blob
    cluster = make_cluster(blobs=[True, False])
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    assert not IBlobStorage.providedBy(db.storage)
    conn = db.open()
    conn.root()["b"] = Blob(b"data")
    with pytest.raises(Unsupported, match="Storing Blobs"):
        transaction.commit()
    transaction.abort()
    conn.close()
    both = make_cluster(blobs=True)
    assert IBlobStorage.providedBy(
        both.client_storage(blob_dir=str(tmp_path / "blobs-b")))


@raid_only
def test_a_mirror_without_a_blob_dir_is_not_readmitted(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    write_blobs(db, [1000])
    victim = cluster.backends[1]
    victim.stop()
    wait_until(lambda: backend_state(cluster, "backend2") == "degraded", 30,
               "backend2 noticed stopped")
    victim.blob_dir = None  # restarted with a configuration that lost blob-dir
    victim.start(fixed_port=True)

    def refused():
        for b in cluster.raidcore.status()["backends"]:
            if b["name"] == "backend2" and "keeps no blobs" in b.get("reason", ""):
                return True
        return False
    wait_until(refused, 60, "the recovery of backend2 to be refused")
    assert backend_state(cluster, "backend2") == "degraded"
    # The RAID still serves and stores blobs on the mirror that keeps them.
    write_blobs_at(db, 1, [2000])


@raid_only
def test_many_blobs_two_writers_a_mirror_lost_and_recovered(make_cluster, tmp_path):
    """Issue 15's system test: 2 clients commit 50 blobs of 1 KB to 50 MB (about
    250 MB) while backend2 is killed and, later, restarted; a third client reads
    every blob back; the mirrors end with identical blob files."""
    import math
    import threading
    cluster = make_cluster(blobs=True)
    sizes = [int(math.exp(math.log(1e3) + (math.log(5e7) - math.log(1e3)) * i / 49))
             for i in range(50)]
    written: dict[int, str] = {}
    errors: list[BaseException] = []
    progress = threading.Semaphore(0)

    from persistent.mapping import PersistentMapping
    from ZODB.blob import Blob
    setup = cluster.db(blob_dir=str(tmp_path / "blobs-setup"))
    conn = setup.open()
    for w in (0, 1):  # each writer its own container: no conflicts on the root
        conn.root()[f"w{w}"] = PersistentMapping()
    transaction.commit()
    conn.close()

    def writer(w: int) -> None:
        try:
            db = cluster.db(blob_dir=str(tmp_path / f"blobs-w{w}"))
            conn = db.open()
            container = conn.root()[f"w{w}"]
            for i in range(w, 50, 2):  # the two writers interleave sizes
                blob = Blob()
                with blob.open("w") as f:
                    f.write(blob_bytes(sizes[i], i))
                container[f"blob{i}"] = blob
                transaction.commit()
                written[i] = hashlib.sha256(blob_bytes(sizes[i], i)).hexdigest()
                progress.release()
            conn.close()
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            progress.release()

    def await_blobs(n: int, what: str) -> None:
        for _ in range(n):
            acquired = progress.acquire(timeout=120)
            if errors:
                raise errors[0]
            assert acquired, f"writers stalled {what}"

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    victim = cluster.backends[1]
    await_blobs(15, "with both mirrors")
    victim.kill()
    await_blobs(15, "with a mirror down")
    victim.start(fixed_port=True)
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(written) == 50
    cluster.wait_raid_state("optimal", timeout=180)
    recovery = cluster.raidcore.status()["recovery"]
    assert recovery["backend"] == "backend2" and recovery["phase"] == "done", recovery
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-r"))
    conn = reader.open()
    for i in range(50):
        with conn.root()[f"w{i % 2}"][f"blob{i}"].open("r") as f:
            assert hashlib.sha256(f.read()).hexdigest() == written[i], i
    conn.close()
    files = [blob_files(b) for b in cluster.backends]
    assert len(files[0]) == 50
    assert files[0] == files[1], sorted(set(files[0]) ^ set(files[1]))


@raid_only
def test_pack_removes_old_blob_revisions_on_every_mirror(make_cluster, tmp_path):
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    write_blobs(db, [1000, 2000])
    replace_blob(db, "blob0", b"second")
    replace_blob(db, "blob0", b"third")
    before = [blob_files(b) for b in cluster.backends]
    assert len(before[0]) == 4 and before[0] == before[1]
    time.sleep(0.01)
    db.pack(time.time())
    after = [blob_files(b) for b in cluster.backends]
    # blob0's two older revisions are gone everywhere; blob1 and blob0's last stay.
    assert len(after[0]) == 2, after[0]
    assert after[0] == after[1]
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    conn = reader.open()
    with conn.root()["blob0"].open("r") as f:
        assert f.read() == b"third"
    conn.close()


@pytest.mark.parametrize("data,message", [
    ("foo", "a bytes-like object is required, not 'str'"),
    (None, "object of type 'NoneType' has no len()"),
    (12, "object of type 'int' has no len()"),
])
def test_a_record_that_is_not_bytes_fails_the_vote_and_keeps_the_connection(
        make_cluster, tmp_path, data, message):
    # As ZEO: the one-way storea is taken, and the storage's TypeError is the
    # vote's answer (ZODB's blob tests store str data this way).
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import z64
    cluster = make_cluster(blobs=True)
    storage = cluster.client_storage(blob_dir=str(tmp_path / "blobs"))
    t = TransactionMetaData()
    storage.tpc_begin(t)
    storage._async("storea", storage.new_oid(), z64, data, id(t))
    with pytest.raises(TypeError, match=message):
        storage.tpc_vote(t)
    storage.tpc_abort(t)
    assert storage.is_connected()
    write_blobs(cluster.db(blob_dir=str(tmp_path / "blobs-b")), [10])


def test_store_blob_with_a_str_serial_and_str_data(make_cluster, tmp_path):
    # ZODB's blob_transaction.txt: storeBlob(oid, '\0' * 8, ...) on a raw
    # storage; the str serial is taken as z64; str data fails the vote.
    from ZODB.Connection import TransactionMetaData
    cluster = make_cluster(blobs=True)
    storage = cluster.client_storage(blob_dir=str(tmp_path / "blobs"))
    src = tmp_path / "blob-src"
    src.write_bytes(b"contents")
    t = TransactionMetaData()
    storage.tpc_begin(t)
    storage.storeBlob(storage.new_oid(), "\0" * 8, b"record", str(src), "", t)
    assert not storage.tpc_vote(t)
    storage.tpc_abort(t)
    src.write_bytes(b"contents")
    t = TransactionMetaData()
    storage.tpc_begin(t)
    storage.storeBlob(storage.new_oid(), b"\0" * 8, "foo", str(src), "", t)
    with pytest.raises(TypeError):
        storage.tpc_vote(t)
    storage.tpc_abort(t)
    assert storage.is_connected()


def cpu_seconds(pid: int) -> float:
    parts = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@raid_only
def test_a_mirror_lost_in_the_middle_of_sending_a_blob(make_cluster, tmp_path):
    # The reader gets the whole blob: raidcore asks the other mirror and passes on
    # only what it had not passed on yet.
    import threading
    cluster = make_cluster(blobs=True)
    db = cluster.db(blob_dir=str(tmp_path / "blobs-a"))
    size = 200 << 20
    written = write_blobs(db, [size])
    reader = cluster.db(blob_dir=str(tmp_path / "blobs-b"))
    pids = {b.name: b.process.pid for b in cluster.backends}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result: dict = {}

    def read() -> None:
        try:
            result["digests"] = read_blobs(reader, 1)
        except BaseException as e:
            result["error"] = e

    thread = threading.Thread(target=read)
    thread.start()
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        for b in cluster.backends:
            if cpu_seconds(pids[b.name]) - before[b.name] >= 0.05:
                victim = b  # busy sending the blob (about 0.5 s of CPU in all)
                break
        time.sleep(0.002)
    assert victim is not None, ("no mirror was seen sending the blob", {
        name: cpu_seconds(pid) - before[name] for name, pid in pids.items()},
        thread.is_alive(), result)
    victim.kill()
    thread.join(120)
    assert "error" not in result, result.get("error")
    assert result["digests"] == [d for _, d in written]
    assert backend_state(cluster, victim.name) == "degraded"
