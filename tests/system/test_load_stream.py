"""Loads on raidcore's LoadBeforeStream: a translator sends every loadBefore on
one long-lived stream, and raidcore answers each as it completes.

- raidcore answers each request of a stream by its id, errors included, seen
  with the real grpcurl (as a translator of another version would send them);
- a backend that stops answering in the middle of streamed loads is degraded
  after --backend_timeout and the loads fail over, with no error for the client;
- after a raidcore restart, the translator opens a new stream and loads go on.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time

import pytest
from persistent.mapping import PersistentMapping
from ZODB.utils import p64

import harness
from test_grpcurl import grpcurl_binary

pytestmark = pytest.mark.raid_only

MAX_TID = b"\x7f" + b"\xff" * 7


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def streamed_answers(stdout: str) -> list[dict]:
    """The messages grpcurl printed for a stream, in the order they came."""
    decoder = json.JSONDecoder()
    answers, text = [], stdout.strip()
    while text:
        obj, end = decoder.raw_decode(text)
        text = text[end:].strip()
        answers.append(obj)
    return answers


def commit_objects(cluster, n: int) -> list[bytes]:
    db = cluster.db()
    try:
        conn = db.open()
        root = conn.root()
        for i in range(n):
            root[f"o{i}"] = PersistentMapping(v=i)
        conn.transaction_manager.commit()
        oids = [root[f"o{i}"]._p_oid for i in range(n)]
        conn.close()
    finally:
        db.close()
    return oids


def test_raidcore_answers_every_streamed_load_by_id(cluster):
    oids = commit_objects(cluster, 3)
    requests = [{"id": 10 + i, "load": {"oid": b64(oid), "before": b64(MAX_TID)}}
                for i, oid in enumerate(oids)]
    requests.append({"id": 20, "load": {"oid": b64(b"short"), "before": b64(MAX_TID)}})
    requests.append({"id": 21, "load": {"oid": b64(p64(10**6)), "before": b64(MAX_TID)}})
    requests.append({"id": 22})  # no load at all
    run = subprocess.run(
        [grpcurl_binary(), "-plaintext", "-d", "@",
         harness.format_addr(cluster.raidcore.addr),
         "zeoraid.v1.Storage/LoadBeforeStream"],
        input="\n".join(json.dumps(r) for r in requests),
        capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    answers = {}
    for obj in streamed_answers(run.stdout):
        assert obj["id"] not in answers, f"answered twice: {obj}"
        answers[obj["id"]] = obj
    assert set(answers) == {"10", "11", "12", "20", "21", "22"}, answers
    for i in range(3):
        load = answers[str(10 + i)]["load"]
        assert load["found"] and load["data"] and load["start_tid"], load
        assert "code" not in answers[str(10 + i)]
    for bad in ("20", "22"):
        assert answers[bad]["code"] == 3, answers[bad]  # INVALID_ARGUMENT
        assert "8 bytes" in answers[bad]["message"]
    missing = answers["21"]["load"]
    assert missing["error"]["class_path"].endswith("POSKeyError"), missing


def test_a_stopped_backend_under_streamed_loads_is_failed_over(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_args=["--backend_timeout", "2s"],
                           translator_args=["--cache_mb", "0"])
    oids = commit_objects(cluster, 20)
    storage = cluster.client_storage()
    try:
        stopped = cluster.backends[1]
        os.kill(stopped.process.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            # Reads alternate between the mirrors: one of these goes to the
            # stopped one, waits out the backend timeout, and is asked again
            # of the other.
            for oid in oids:
                data, serial, end = storage._server.call("loadBefore", oid, MAX_TID)
                assert data and end is None
            took = time.monotonic() - start
            status = {b["name"]: b for b in cluster.raidcore.status()["backends"]}
        finally:
            os.kill(stopped.process.pid, signal.SIGCONT)
    finally:
        storage.close()
    assert took < 15, f"20 loads took {took:.1f}s"
    assert status["backend2"]["state"] == "degraded", status
    assert "loadBefore" in status["backend2"]["reason"], status


def test_loads_go_on_after_a_raidcore_restart(make_cluster):
    cluster = make_cluster(n_backends=2, translator_args=["--cache_mb", "0"])
    oids = commit_objects(cluster, 5)
    storage = cluster.client_storage()
    try:
        assert storage._server.call("loadBefore", oids[0], MAX_TID)[0]
    finally:
        storage.close()
    cluster.raidcore.stop()
    cluster.raidcore.start()

    def load_all():
        storage = cluster.client_storage(wait_timeout=10)
        try:
            return [storage._server.call("loadBefore", oid, MAX_TID)[0]
                    for oid in oids]
        finally:
            storage.close()

    loaded = harness.first_success(load_all, 60, "loads after the restart")
    assert all(loaded)


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "accompanied"])
def test_a_lone_load_has_the_next_request_read_with_its_answer(make_cluster, alone):
    """A request the translator marks `alone` has raidcore read the next one
    only as it writes the lone one's answer (gRPC's flow-control update for it
    then rides with the answer instead of waking the translator on its own);
    one sent among others is read at once. Seen in the order of the answers:
    a malformed second request, answered without a backend, overtakes a first
    load held up by a stopped backend unless the first came alone."""
    cluster = make_cluster(n_backends=1)
    backend = cluster.backends[0]
    requests = [
        {"id": 1, "alone": alone, "load": {"oid": b64(p64(10**6)), "before": b64(MAX_TID)}},
        {"id": 2, "load": {"oid": b64(b"short"), "before": b64(MAX_TID)}},
    ]
    os.kill(backend.process.pid, signal.SIGSTOP)
    try:
        proc = subprocess.Popen(
            [grpcurl_binary(), "-plaintext", "-d", "@",
             harness.format_addr(cluster.raidcore.addr),
             "zeoraid.v1.Storage/LoadBeforeStream"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        proc.stdin.write("\n".join(json.dumps(r) for r in requests))
        proc.stdin.close()
        time.sleep(1.0)  # the first load waits for the stopped backend
    finally:
        os.kill(backend.process.pid, signal.SIGCONT)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    out = proc.stdout.read()
    order = [obj["id"] for obj in streamed_answers(out)]
    assert order == (["1", "2"] if alone else ["2", "1"]), out
