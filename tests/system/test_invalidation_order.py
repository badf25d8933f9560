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


def test_invalidation_watches_hold_no_raidcore_thread(make_cluster):
    """raidcore serves each translator's invalidation watch on its
    completion-queue thread (the commit's publisher writes it): five more
    translators hold no raidcore thread each, as the synchronous server's
    handler threads did; their clients hear of commits made through another
    translator; a translator killed ends its watch in raidcore."""
    import harness
    from test_idle_parking import thread_count

    cluster = make_cluster(n_backends=2)
    pid = cluster.raidcore.process.pid
    base = thread_count(pid)
    extra = [harness.Translator(cluster.supervisor, cluster.raidcore, name=f"t{i}")
             for i in range(5)]
    for t in extra:
        t.start()
    # Each translator's watch is open once raidcore logged it.
    harness.wait_until(
        lambda: cluster.raidcore.process.log_text(1 << 20).count(
            "watches invalidations from") >= 6,
        10, "six invalidation watches")
    during = thread_count(pid)
    assert during - base <= 2, (
        f"raidcore went from {base} to {during} threads with 5 more watches")

    writer_db = cluster.db()
    tm, conn, root = open_conn(writer_db)
    root["x"] = 0
    tm.commit()
    reader = cluster.db(addr=extra[3].addr)
    rtm, rconn, rroot = open_conn(reader)
    assert rroot["x"] == 0
    rtm.abort()
    root["x"] = 1
    tm.commit()
    # The reader's translator heard of the commit through its watch: a new
    # transaction sees the new value.
    harness.wait_until(lambda: (rtm.abort(), rroot["x"])[1] == 1, 10,
                       "the commit through another translator")
    reader.close()

    for t in extra[:2]:
        t.kill()
    harness.wait_until(
        lambda: cluster.raidcore.process.log_text(1 << 20).count(
            "stopped watching invalidations") >= 2,
        10, "raidcore ending the killed translators' watches")
    root["x"] = 2
    tm.commit()  # the commits go on, published to the watches left
    for t in extra[2:]:
        t.stop()


def test_a_watch_that_stops_reading_is_cut_off(make_cluster):
    """A watcher that stops reading its invalidations (a stuck translator)
    holds raidcore's write to it; once it is --watch_backlog transactions
    behind, raidcore cancels its watch instead of queueing without bound.
    Commits, and the other translator's clients, go on."""
    import grpc

    import harness

    cluster = make_cluster(n_backends=2, raidcore_args=["--watch_backlog", "50"])
    # A small HTTP/2 window that never grows: raidcore's writes stall once the
    # client stops taking messages.
    channel = grpc.insecure_channel(
        harness.format_addr(cluster.raidcore.addr),
        options=[("grpc.http2.bdp_probe", 0),
                 ("grpc.http2.lookahead_bytes", 8192)])
    try:
        watch = channel.unary_stream(
            "/zeoraid.v1.Storage/WatchInvalidations",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        # WatchInvalidationsRequest{translator: "stuck"}
        call = watch(b"\x0a\x05stuck", timeout=60)
        next(call)  # the sync point; then it reads nothing more

        db = cluster.db()
        tm, conn, root = open_conn(db)
        log = cluster.raidcore.process.log_text
        n = 0
        while "translator 'stuck' fell too far behind" not in log(1 << 20):
            root["x"] = n
            tm.commit()
            n += 1
            assert n < 20000, "raidcore never cut the stuck watch off"
        with pytest.raises(grpc.RpcError) as raised:
            for _ in call:
                pass
        assert raised.value.code() in (grpc.StatusCode.CANCELLED,
                                       grpc.StatusCode.RESOURCE_EXHAUSTED)
        harness.wait_until(
            lambda: "translator 'stuck' stopped watching" in log(1 << 20),
            10, "raidcore ending the stuck watch")
        # The cluster's own translator watched on: a second client sees the
        # commits at once.
        other = cluster.db()
        otm, oconn, oroot = open_conn(other)
        root["x"] = -1
        tm.commit()
        harness.wait_until(lambda: (otm.abort(), oroot["x"])[1] == -1, 10,
                           "the commit after the cut-off")
    finally:
        channel.close()
