"""TLS on every link, and who may change the RAID (raid only).

Certificates: net/testdata/tls (a test CA; server certificate for localhost and
127.0.0.1; client certificates "translator" and "admin"; "rogue" from another CA).

* ZEO clients <-> translator: a real ``ClientStorage(ssl=...)`` commits through a
  translator with ``--zeo_tls_*`` (ZEO's ``<ssl>`` server options, client
  certificates required as with ZEO's ``authenticate``); a plain client, one
  without a certificate and one from another CA are refused.
* translator <-> raidcore: mutual TLS; a translator without a valid certificate is
  refused; raidcore refuses a non-loopback listen address without TLS.
* Admin: a state-changing call without credentials is refused when loopback is not
  trusted (the stand-in for "from another host", which tests cannot be: they bind
  loopback only); an admin certificate or the bearer token is accepted.
* grpcurl with the certificates works, and without them does not.
"""

from __future__ import annotations

import ssl
import subprocess

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZEO.Exceptions import ClientDisconnected

import harness
from test_grpcurl import grpcurl_binary

pytestmark = pytest.mark.raid_only

CERTS = harness.REPO_ROOT / "net" / "testdata" / "tls"


def cert(name: str) -> str:
    return str(CERTS / name)


def client_context(name: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cert("ca.pem"))
    if name is not None:
        ctx.load_cert_chain(cert(f"{name}.pem"), cert(f"{name}.key"))
    return ctx


ZEO_TLS = ["--zeo_tls_certificate", cert("server.pem"), "--zeo_tls_key",
           cert("server.key"), "--zeo_tls_authenticate", cert("ca.pem")]
RAIDCORE_MTLS = ["--tls_certificate", cert("server.pem"), "--tls_key",
                 cert("server.key"), "--tls_client_ca", cert("ca.pem")]
TRANSLATOR_MTLS = ["--raidcore_tls_ca", cert("ca.pem"), "--raidcore_tls_certificate",
                   cert("translator.pem"), "--raidcore_tls_key", cert("translator.key")]
ADMIN_MTLS = ["--tls_ca", cert("ca.pem"), "--tls_certificate", cert("admin.pem"),
              "--tls_key", cert("admin.key")]


def commit_and_read(cluster, **kw) -> None:
    db = cluster.db(**kw)
    conn = db.open()
    conn.root()["tls"] = PersistentMapping(n=42)
    transaction.commit()
    conn.close()
    other = cluster.db(**kw).open()
    assert other.root()["tls"]["n"] == 42
    other.close()


def refused(cluster, **kw) -> bool:
    try:
        cluster.client_storage(wait_timeout=3, **kw)
    except (ClientDisconnected, OSError):
        return True
    return False


def test_zeo_clients_over_tls(make_cluster):
    cluster = make_cluster(translator_args=ZEO_TLS)
    commit_and_read(cluster, ssl=client_context("translator"),
                    ssl_server_hostname="localhost")
    log = cluster.translator.process.log_text
    assert refused(cluster), "a plain-text client got in"
    assert refused(cluster, ssl=client_context(None), ssl_server_hostname="localhost")
    assert refused(cluster, ssl=client_context("rogue"),
                   ssl_server_hostname="localhost")
    harness.wait_until(lambda: "TLS handshake failed" in log(), 10,
                       "the refused handshakes are logged")


def test_translator_and_raidcore_with_mutual_tls(make_cluster):
    cluster = make_cluster(raidcore_args=RAIDCORE_MTLS, translator_args=TRANSLATOR_MTLS,
                           admin_args=ADMIN_MTLS)
    commit_and_read(cluster)
    # A second translator with a certificate from another CA, and one with none,
    # are refused by raidcore: their clients never get served.
    for name, args in (
            ("rogue", ["--raidcore_tls_ca", cert("ca.pem"), "--raidcore_tls_certificate",
                       cert("rogue.pem"), "--raidcore_tls_key", cert("rogue.key")]),
            ("nocert", ["--raidcore_tls_ca", cert("ca.pem")]),
            ("plain", [])):
        t = harness.Translator(cluster.supervisor, cluster.raidcore, name=name,
                               extra_args=args)
        t.start()
        assert refused(cluster, addr=t.addr), f"translator {name} reached raidcore"
        assert "watching raidcore invalidations" not in t.process.log_text()
        t.stop()
    # The good translator still serves.
    commit_and_read(cluster)


def test_raidcore_refuses_to_listen_beyond_loopback_without_tls(tmp_path):
    argv = [str(harness.binary("raidcore", "zeoraid-raidcore")),
            "--listen", "0.0.0.0:1", "--backend", "b1=127.0.0.1:1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0:1 without TLS" in result.stderr


def test_state_changing_admin_calls_need_credentials(make_cluster, tmp_path):
    token = tmp_path / "admin-token"
    token.write_text("correct horse battery staple\n")
    cluster = make_cluster(
        raidcore_args=RAIDCORE_MTLS + ["--admin_trust_loopback=false",
                                       "--admin_identities", "admin",
                                       "--admin_token_file", str(token)],
        translator_args=TRANSLATOR_MTLS, admin_args=ADMIN_MTLS)
    raidcore = cluster.raidcore
    as_translator = ["--tls_ca", cert("ca.pem"), "--tls_certificate",
                     cert("translator.pem"), "--tls_key", cert("translator.key")]
    raidcore.admin_args = as_translator
    # Reading is open to any authenticated client.
    assert raidcore.status()["state"] == "optimal"
    # Changing is not: a valid certificate that is not an admin's, no token.
    r = raidcore.admin("disable", "backend2", check=False)
    assert r.returncode != 0
    assert "state-changing Admin calls are allowed only" in r.stderr, r.stderr
    assert raidcore.status()["state"] == "optimal"
    # A wrong token neither.
    wrong = tmp_path / "wrong-token"
    wrong.write_text("incorrect\n")
    r = raidcore.admin("--token_file", str(wrong), "disable", "backend2", check=False)
    assert r.returncode != 0 and "not accepted" in r.stderr, r.stderr
    # The token is enough...
    raidcore.admin("--token_file", str(token), "disable", "backend2")
    assert raidcore.status()["state"] == "degraded"
    # ...and so is the admin certificate.
    raidcore.admin_args = ADMIN_MTLS
    raidcore.admin("enable", "backend2")
    cluster.wait_raid_state("optimal", timeout=60)
    assert "refused Admin.Disable" in raidcore.process.log_text()


def test_grpcurl_with_certificates(make_cluster):
    cluster = make_cluster(raidcore_args=RAIDCORE_MTLS, translator_args=TRANSLATOR_MTLS,
                           admin_args=ADMIN_MTLS)
    addr = harness.format_addr(cluster.raidcore.addr)
    with_certs = subprocess.run(
        [grpcurl_binary(), "-cacert", cert("ca.pem"), "-cert", cert("admin.pem"),
         "-key", cert("admin.key"), addr, "grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert with_certs.returncode == 0, with_certs.stderr
    assert "SERVING" in with_certs.stdout
    without = subprocess.run(
        [grpcurl_binary(), "-cacert", cert("ca.pem"), addr,
         "grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert without.returncode != 0
    plaintext = subprocess.run(
        [grpcurl_binary(), "-plaintext", addr, "grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert plaintext.returncode != 0


def test_tls_client_closing_while_its_vote_waits(make_cluster):
    """A TLS client closed while its vote waits for the commit lock gets the
    server's close_notify at once (ZEO's ClientStorage.close waits 10 s for it and
    then raises TimeoutError): the translator reads the connection while the call
    waits. ZEO's CommitLockVoteTests over SSL do this."""
    import threading
    import time

    from ZODB.Connection import TransactionMetaData
    from ZODB.tests.MinPO import MinPO
    from ZODB.tests.StorageTestBase import zodb_pickle

    cluster = make_cluster(translator_args=ZEO_TLS)
    kw = dict(ssl=client_context("translator"), ssl_server_hostname="localhost")
    holder = cluster.client_storage(**kw)
    t1 = TransactionMetaData()
    holder.tpc_begin(t1)
    holder.store(holder.new_oid(), b"\0" * 8, zodb_pickle(MinPO(1)), "", t1)
    holder.tpc_vote(t1)  # holds the commit lock

    waiter = cluster.client_storage(**kw)
    t2 = TransactionMetaData()
    waiter.tpc_begin(t2)
    waiter.store(waiter.new_oid(), b"\0" * 8, zodb_pickle(MinPO(2)), "", t2)
    voting = threading.Thread(target=lambda: _ignore_errors(waiter.tpc_vote, t2),
                              daemon=True)
    voting.start()
    time.sleep(0.5)  # the vote now waits for the lock
    t0 = time.monotonic()
    waiter.close()
    took = time.monotonic() - t0
    assert took < 5, f"closing took {took:.1f}s"
    holder.tpc_finish(t1)
    voting.join(10)


def _ignore_errors(fn, *args):
    try:
        fn(*args)
    except Exception:
        pass
