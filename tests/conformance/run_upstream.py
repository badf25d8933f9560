#!/usr/bin/env python3
"""Run ZEO's own test suite against plain ZEO and through ZEORaid; compare.

The suites are imported from the installed ZEO and ZODB packages (never copied):
``ZEO.tests.testZEO.test_suite()`` (ZODB's storage test mixins via ZEO's
GenericTests/FullGenericTests classes, ZEO's doctests and doctest files),
``testConnection`` (ConnectionTests, InvalidationTests, ReconnectionTests, ...),
``testConfig``, ``testssl``, ``test_client_side_conflict_resolution``,
``test_client_credentials``, ``test_sync``, plus ``testZEO.FileStorageTests`` (the
FileStorage variant of FullGenericTests, which ZEO's own suite leaves out only to save
time; without it the full storage mixins would only run with blob storages).

Targets (each runs in worker subprocesses of its own):

* ``plain``: ZEO's own forker (``runzeo`` in a multiprocessing child), unchanged.
* ``raid``: every ``start_zeo_server`` call becomes N runzeo backends + raidcore +
  translator on the address the test asked for (see ``zeoraid_forker.py``).
* ``runzeo``: (diagnostic, not part of ``both``) the same replacement with one runzeo
  subprocess and no RAID, to tell artefacts of the replacement from RAID bugs.

Every test has a deadline (``--timeout``): a worker whose test overruns it gets
SIGUSR1 (Python stacks are dumped into its log), then is killed with everything it
started; the test is recorded as a hang and a new worker goes on with the next test.

Exit status: 0 when every test that passes on plain also passes through the RAID
(tests classified not applicable excluded), 1 otherwise, 2
on usage errors. With ``--target raid`` alone, every applicable test must pass (or
compare with an earlier plain run: ``--baseline results.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

# ----------------------------------------------------------------------- suites

# (module, how): "test_suite" calls module.test_suite(); "loader" loads its TestCases.
SUITE_MODULES = [
    ("ZEO.tests.testZEO", "test_suite"),
    ("ZEO.tests.testConnection", "test_suite"),
    ("ZEO.tests.testConfig", "test_suite"),
    ("ZEO.tests.testssl", "test_suite"),
    ("ZEO.tests.test_client_side_conflict_resolution", "loader"),
    ("ZEO.tests.test_client_credentials", "test_suite"),
    ("ZEO.tests.test_sync", "loader"),
]
# Classes ZEO defines but leaves out of its test_suite() to save time.
EXTRA_CLASSES = [("ZEO.tests.testZEO", "FileStorageTests")]

# --------------------------------------------------------------- classification
#
# "not applicable" is decided before looking at the RAID's result, from what the test
# needs (see README.md):
#  1. the table below (read from the tests' source): the test reaches into the server
#     process (in-process server objects, `threaded` server internals, runzeo's own log
#     file or command line), needs a server option the RAID has no equivalent for, or
#     uses a shared blob directory (ClientStorage(shared_blob_dir=True));
#  2. what the test asked start_zeo_server for, recorded on every run: a
#     `protocol=` override, several storages in one server -> not applicable (a blob
#     directory or <blobstorage> is applicable: blobs go through the RAID);
#  3. a test that starts no server through ZEO's forker (client-side unit tests,
#     in-process StorageServer doctests, tests that run runzeo themselves);
#  4. with the runzeo target in the run: a test that passes on plain but fails with
#     the forker replacement and no RAID.
# Tests matched by 1 are not run through the RAID unless --run-na is given.

# ClientStorage(shared_blob_dir=True) commits a blob by naming a file in a directory
# it shares with the server (storeBlobShared); ZEORaid refuses that at vote by design
# (StorageError "ZEORaid does not support shared blob directories"): raidcore and
# every backend have blob directories of their own and cannot read the client's.
# The tests: ZEO's BlobWritableCacheTests (shared_blob_dir = True) and ZODB's blob
# suite run with ZEO's create_storage_shared (storage_reusable_suite
# 'ClientStorageSharedBlobs': the layer ClientStorageSharedBlobsBlobTests, whose
# doctests get that suffix in their ids, and ClientStorageSharedBlobsBlobUndoTests).
NA_SHARED_BLOBS = ("not applicable: shared blob directory (ClientStorage("
                   "shared_blob_dir=True) commits blobs with storeBlobShared), refused "
                   "by design: the RAID's backends cannot see the client's directory")

STATIC_NA = [
    # (regex on the test id, classification)
    (r"ZRPCConnectionTests\.checkExceptionLogsAtError$",
     "not applicable: expects MappingStorage's POSKeyError for history(None); the "
     "RAID's mirrors are FileStorages (a MappingStorage cannot take a given tid), "
     "whose answer ZEO passes on as an AssertionError"),
    (r"\.BlobWritableCacheTests\.|ClientStorageSharedBlobs", NA_SHARED_BLOBS),
    (r"protocols\.test$",
     "not applicable: protocols.test starts servers speaking older protocols "
     "(start_zeo_server(protocol=...)); the translator speaks ZEO 5 only"),
    (r"test_sync\.SyncTests\.test_server_sync",
     "not applicable: instruments the in-process server object "
     "(ZEO._forker.<name>_server.server.zeo_storages_by_storage_id)"),
    (r"test_client_credentials\.",
     "not applicable: patches ZEO.StorageServer.ZEOStorage.register inside the "
     "(threaded, in-process) server"),
    (r"dynamic_server_ports\.test$",
     "not applicable: checks the in-process server's Serving/Closed events "
     "(ZODB.event.notify inside a threaded server)"),
    (r"testZEO\.client_labels$",
     "not applicable: reads runzeo's own log file for the client label (the "
     "backends see raidcore's connections, not the client)"),
]

# ----------------------------------------------------------------- quick subset
#
# --quick: a fixed subset that passes on plain ZEO and through the RAID today, runs in
# well under 2 minutes per target, and covers commits, conflicts, undo, history,
# iteration, packing, invalidations, reconnection and the doctests that start
# servers. Add tests here as fixes land (see KNOWN_QUEUE below for what fails today).
QUICK = [
    # storage API through ZEO (ZODB's mixins on a FileStorage)
    "ZEO.tests.testZEO.FileStorageTests.testBasics",
    "ZEO.tests.testZEO.FileStorageTests.testLen",
    "ZEO.tests.testZEO.FileStorageTests.testGetTid",
    "ZEO.tests.testZEO.FileStorageTests.testNote",
    "ZEO.tests.testZEO.FileStorageTests.testInterfaces",
    "ZEO.tests.testZEO.FileStorageTests.checkInterfaceFromRemoteStorage",
    "ZEO.tests.testZEO.FileStorageTests.testAbortAfterVote",
    "ZEO.tests.testZEO.FileStorageTests.testStoreWrongTrans",
    "ZEO.tests.testZEO.FileStorageTests.testMultipleEmptyTransactions",
    "ZEO.tests.testZEO.FileStorageTests.test_checkCurrentSerialInTransaction",
    "ZEO.tests.testZEO.FileStorageTests.testLoadSerial",
    "ZEO.tests.testZEO.FileStorageTests.testLoadBefore",
    "ZEO.tests.testZEO.FileStorageTests.testLoadBeforeUndo",
    # conflicts and conflict resolution
    "ZEO.tests.testZEO.FileStorageTests.testConflicts",
    "ZEO.tests.testZEO.FileStorageTests.checkResolve",
    "ZEO.tests.testZEO.FileStorageTests.testUnresolvable",
    "ZEO.tests.testZEO.FileStorageTests.testUndoConflictResolution",
    # undo, iteration, packing
    "ZEO.tests.testZEO.FileStorageTests.testSimpleTransactionalUndo",
    "ZEO.tests.testZEO.FileStorageTests.testTwoObjectUndoAtOnce",
    "ZEO.tests.testZEO.FileStorageTests.testUndoLogMetadata",
    "ZEO.tests.testZEO.FileStorageTests.testTransactionalUndoIterator",
    "ZEO.tests.testZEO.FileStorageTests.testSimpleIteration",
    "ZEO.tests.testZEO.FileStorageTests.testTransactionExtensionFromIterator",
    "ZEO.tests.testZEO.FileStorageTests.checkIteratorGCStorageCommitting",
    "ZEO.tests.testZEO.FileStorageTests.testPackAllRevisions",
    "ZEO.tests.testZEO.FileStorageTests.testPackAfterUndoDeletion",
    "ZEO.tests.testZEO.FileStorageTests.testTransactionalUndoAfterPack",
    # ZEO specifics: commit lock, threads, invalidations, cache
    "ZEO.tests.testZEO.FileStorageTests.checkCommitLockVoteFinish",
    "ZEO.tests.testZEO.FileStorageTests.checkMTStores",
    "ZEO.tests.testZEO.FileStorageTests.test2ZODBThreads",
    "ZEO.tests.testZEO.FileStorageTests.checkZEOInvalidation",
    "ZEO.tests.testZEO.FileStorageTests.checkLargeUpdate",
    "ZEO.tests.testZEO.FileStorageTests.checkVolatileCacheWithImmediateLastTransaction",
    "ZEO.tests.testZEO.FileStorageTests.test_tid_ordering_w_commit",
    "ZEO.tests.testZEO.FileStorageRecoveryTests.testSimpleRecovery",
    # connections, read-only clients, reconnection and quick verification
    "ZEO.tests.testConnection.FileStorageConnectionTests.checkBasicPersistence",
    "ZEO.tests.testConnection.FileStorageConnectionTests.checkReadOnlyClient",
    "ZEO.tests.testConnection.FileStorageConnectionTests.checkDisconnectionError",
    "ZEO.tests.testConnection.FileStorageConnectionTests.checkCrossDBInvalidations",
    "ZEO.tests.testConnection.FileStorageReconnectionTests.checkReconnection",
    "ZEO.tests.testConnection.FileStorageInvqTests.checkQuickVerificationWith2Clients",
    "ZEO.tests.testZEO.ZRPCConnectionTests.checkConnectionInvalidationOnReconnect",
    # doctests
    "ZEO.tests.testZEO.history_over_zeo",
    "ZEO.tests.testZEO.open_convenience",
    "ZEO.tests.testZEO.unix_domain_sockets",
    "ZEO.tests.testZEO.tpc_finish_error",
    "ZEO.tests.testZEO.invalidate_client_cache_entry_on_server_commit_error",
    "ZEO.tests.testZEO.can_use_empty_string_for_local_host_on_client",
    "ZEO/tests/new_addr.test",
    # fixed this session (each failed through the RAID before)
    "ZEO.tests.testZEO.FileStorageTests.checkIteratorGCProtocol",
    "ZEO.tests.testZEO.FileStorageTests.checkDisconnectedOnThread2Close",
    "ZEO.tests.testZEO.FileStorageTests.checkSecondBeginFails",
    "ZEO.tests.testZEO.FileStorageTests.testPackWhileWriting",
    "ZEO.tests.testZEO.FileStorageTests.testPackWithMultiDatabaseReferences",
    "ZEO.tests.testConnection.FileStorageTimeoutTests.checkTimeoutAfterVote",
    "ZEO.tests.testZEO.test_server_status",
    "ZEO.tests.testZEO.test_ruok",
    "ZEO/tests/invalidation-age.txt",
    # blobs, non-shared client blob dir (storeBlob*, sendBlob, undo, pack, deleteObject)
    "ZEO.tests.testZEO.BlobAdaptedFileStorageTests.checkStoreAndLoadBlob",
    "ZEO.tests.testZEO.gracefully_handle_abort_while_storing_many_blobs",
    "ZODB.tests.testblob.ClientStorageNonSharedBlobsBlobUndoTests.testUndo",
    "ZODB/tests/IExternalGC.test",
    "ZEO/tests/client-config.test",
]

# The known queue: tests that pass on plain ZEO 6.2 but not through the RAID in the
# last full run (report.md: both encodings, binaries of 2026-12-01 17:30, HEAD
# c1784b1): none. Put a test that starts failing here, with its symptom, and take it
# out of QUICK until it is fixed. (What earlier builds failed is in report.md.)
# The blob tests (run separately with the binaries of 8ba72b9, both encodings) all
# pass where plain passes. ZODB/tests/blob_transaction.txt fails on plain too when
# run as root (a committed blob file opens for writing, line 367); through the RAID it
# also failed at line 392 (a str serial in storeBlobEnd closed the connection), fixed
# since and covered by tests/system/test_blobs.py.
KNOWN_QUEUE: list[str] = [
]

STATUS_PASS = "pass"


def static_class(test_id: str) -> Optional[str]:
    for pattern, klass in STATIC_NA:
        if re.search(pattern, test_id):
            return klass
    return None


def dynamic_class(requests: list[dict]) -> Optional[str]:
    """Classification from what the test asked start_zeo_server for."""
    unsupported = [u for r in requests for u in r.get("unsupported", [])]
    if unsupported:
        return "not applicable: " + ", ".join(sorted(set(unsupported)))
    return None


# ----------------------------------------------------------------------- worker


def _add_tests(to, case):
    """Like testZEO.add_tests: methods prefixed ``check`` and ``test``."""
    import unittest
    for prefix in ("check", "test"):
        loader = unittest.TestLoader()
        loader.testMethodPrefix = prefix
        to.addTest(loader.loadTestsFromTestCase(case))


def _test_id(test) -> str:
    """unittest's id(); for doctest files the file's path inside site-packages
    (``ZEO/tests/zeo-fan-out.test``) rather than doctest's ``zeo-fan-out_test``."""
    import doctest
    if isinstance(test, doctest.DocFileCase):
        fn = os.path.normpath(test._dt_test.filename)
        parts = Path(fn).parts
        for top in ("ZEO", "ZODB"):
            if top in parts:
                i = len(parts) - 1 - parts[::-1].index(top)
                return "/".join(parts[i:])
        return Path(fn).name
    return test.id()


def collect(all_levels: bool = False):
    """[(id, test, layer, level)] of every test in SUITE_MODULES and EXTRA_CLASSES,
    with the layer and level zope.testrunner would give them."""
    import importlib
    import unittest

    import ZODB.tests.util

    out = []
    seen: dict[str, int] = {}

    def walk(suite, layer, level):
        layer = getattr(suite, "layer", layer)
        level = getattr(suite, "level", level)
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                walk(t, layer, level)
            else:
                tl = getattr(t, "layer", layer)
                tv = getattr(t, "level", level) or 1
                tid = _test_id(t)
                n = seen.get(tid, 0) + 1
                seen[tid] = n
                if n > 1:
                    name = getattr(tl, "__name__", "")
                    tid = f"{tid} [{name}]" if name else f"{tid}#{n}"
                if tv <= 1 or all_levels:
                    out.append((tid, t, tl, tv))

    for modname, how in SUITE_MODULES:
        mod = importlib.import_module(modname)
        if how == "test_suite":
            suite = mod.test_suite()
        else:
            suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
        walk(suite, None, 1)
    for modname, clsname in EXTRA_CLASSES:
        mod = importlib.import_module(modname)
        suite = unittest.TestSuite()
        _add_tests(suite, getattr(mod, clsname))
        suite.layer = ZODB.tests.util.MininalTestLayer(clsname)
        walk(suite, None, 1)
    return out


def _layer_chain(layer):
    chain = []

    def visit(lay):
        for b in getattr(lay, "__bases__", ()):
            if b is not object:
                visit(b)
        if lay not in chain:
            chain.append(lay)

    if layer is not None:
        visit(layer)
    return chain


def _symptom_from(text: str) -> str:
    """One line out of a traceback or a doctest failure report."""
    lines = [l.rstrip() for l in text.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    if "Failed example:" not in text:
        return lines[-1].strip()[:300]
    # doctest: the first failing example, what was expected and what came instead
    i = lines.index("Failed example:")
    where = ""
    m = re.search(r'line (\d+), in (\S+)', lines[i - 1]) if i else None
    if m:
        where = f"{m.group(2)}:{m.group(1)}: "
    heads = ("Expected:", "Expected nothing", "Got:", "Got nothing",
             "Exception raised:", "File ", "------")
    body: dict[str, list[str]] = {}
    key = "example"
    for l in lines[i + 1:]:
        if l.startswith(heads):
            if l.startswith(("File ", "------")):
                break
            key = l.rstrip(":")
            body.setdefault(key, [])
            continue
        body.setdefault(key, []).append(l.strip())
    example = (body.get("example") or [""])[0]
    if "Exception raised" in body:
        got = "raised " + (body["Exception raised"] or ["?"])[-1]
    else:
        exp_l, got_l = body.get("Expected") or [], body.get("Got") or []
        k = 0  # the first line that differs
        while k < min(len(exp_l), len(got_l)) and exp_l[k] == got_l[k]:
            k += 1
        exp = " / ".join(exp_l[k:k + 2]) or "nothing"
        got_ = " / ".join(got_l[k:k + 2]) or "nothing"
        more = f" (line {k + 1})" if k else ""
        got = f"expected {exp!s}, got {got_!s}{more}"
    return f"{where}`{example}` {got}"[:300]


def worker_main(args) -> int:
    import faulthandler
    import gc
    import logging
    import traceback
    import unittest

    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    # zope.testrunner's logging set-up without a log.ini: silent.
    root = logging.getLogger()
    root.addHandler(logging.NullHandler())
    logging.basicConfig()

    import zeoraid_forker
    import ZEO._forker

    tests = collect(args.all_levels)
    index = {tid: (t, layer) for tid, t, layer, _ in tests}
    ids = [l.strip() for l in Path(args.ids_file).read_text().splitlines() if l.strip()]
    if args.target == "plain":
        replacement = zeoraid_forker.make_recording_wrapper(ZEO._forker.start_zeo_server)
    else:
        replacement = zeoraid_forker.make_start_zeo_server(
            "raid" if args.target == "raid" else "runzeo", mirrors=args.mirrors,
            substitute_mapping=not args.no_substitute)
    places = zeoraid_forker.install(replacement)
    print(f"worker {os.getpid()}: start_zeo_server rebound in {places}", flush=True)

    out = open(args.results_file, "a", buffering=1)

    def emit(**kw):
        out.write(json.dumps(kw) + "\n")
        out.flush()
        os.fsync(out.fileno())

    class Result(unittest.TestResult):
        def __init__(self):
            super().__init__()
            self.status = STATUS_PASS
            self.detail = ""

        def _err(self, test, err, status):
            self.status = status
            self.detail = "".join(traceback.format_exception(*err))

        def addFailure(self, test, err):
            self._err(test, err, "fail")

        def addError(self, test, err):
            if self.status == STATUS_PASS:
                self._err(test, err, "error")

        def addSkip(self, test, reason):
            self.status, self.detail = "skip", reason

        def addExpectedFailure(self, test, err):
            self.status, self.detail = STATUS_PASS, "expected failure"

        def addUnexpectedSuccess(self, test):
            self.status, self.detail = "fail", "unexpected success"

    zeoraid_forker.on_start = lambda info: emit(event="server", logs=info.get("logs", []))
    base_cwd = os.getcwd()
    current: list = []  # layers set up, outermost first
    emit(event="worker", pid=os.getpid(), collected=len(tests))
    for tid in ids:
        if tid not in index:
            emit(event="end", id=tid, status="error", detail="not collected",
                 symptom="not collected", duration=0, requests=[])
            continue
        test, layer = index[tid]
        want = _layer_chain(layer)
        while current and (len(current) > len(want) or
                           current[len(current) - 1] is not want[len(current) - 1]):
            lay = current.pop()
            try:
                lay.tearDown()
            except Exception:
                traceback.print_exc()
        if not current:
            os.chdir(base_cwd)
        for lay in want[len(current):]:
            lay.setUp()
            current.append(lay)
        zeoraid_forker.reset()
        emit(event="start", id=tid, t=time.time())
        t0 = time.monotonic()
        result = Result()
        try:
            for lay in current:
                getattr(lay, "testSetUp", lambda: None)()
            test.run(result)
            for lay in reversed(current):
                getattr(lay, "testTearDown", lambda: None)()
        except BaseException as e:  # noqa: B902 - a test must not kill the worker
            result.status = "error"
            result.detail = "".join(traceback.format_exception(e))
        duration = time.monotonic() - t0
        reqs = zeoraid_forker.reset()
        zeoraid_forker.stop_all()
        crashes = [c for r in reqs for c in r.get("crashes", [])]
        detail = result.detail
        if crashes and result.status == STATUS_PASS:
            result.status = "error"
            detail = "server process crashed: " + "; ".join(crashes)
        symptom = _symptom_from(detail) if result.status not in (STATUS_PASS, "skip") \
            else ""
        if crashes:
            symptom = "; ".join(crashes) + (f"; {symptom}" if symptom else "")
        server_warnings = []
        if result.status not in (STATUS_PASS, "skip"):
            for r in reqs:
                server_warnings += zeoraid_forker.warnings_of(r)
        if len(detail) > 20000:  # doctests: the first failure; tracebacks: the end
            detail = detail[:10000] + "\n[...]\n" + detail[-10000:]
        emit(event="end", id=tid, status=result.status, detail=detail,
             symptom=symptom, duration=round(duration, 2),
             server_warnings=server_warnings[:4],
             requests=[{k: v for k, v in r.items() if k != "crashes"} for r in reqs])
        gc.collect()
    while current:
        try:
            current.pop().tearDown()
        except Exception:
            traceback.print_exc()
    emit(event="done")
    out.close()
    sys.stdout.flush()
    os._exit(0)  # don't wait for threads a test left behind


# ----------------------------------------------------------------- orchestrator


def _hang_symptom(log_path: Path, since: int, timeout: float) -> str:
    """'hang' plus where the worker's main thread waited (faulthandler dump): the
    innermost test frame with its source line, and the innermost ZEO/ZODB frame."""
    import linecache
    head = f"hang (no result within {timeout:.0f}s)"
    try:
        text = log_path.read_bytes()[since:].decode("utf-8", "replace")
    except OSError:
        return head
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", text)
    main = [b for b in blocks if "worker_main" in b]
    if not main:
        return head
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', main[-1])  # innermost 1st
    test_frame = next(((f, int(n), fn) for f, n, fn in frames
                       if "/tests/" in f or f.startswith("<doctest")), None)
    lib_frame = next(((f, int(n), fn) for f, n, fn in frames
                      if re.search(r"/(ZEO|ZODB|transaction)/", f) and "/tests/" not in f
                      and not f.endswith("futures.py")), None)
    parts = []
    if test_frame:
        f, n, fn = test_frame
        src = linecache.getline(f, n).strip() if not f.startswith("<") else ""
        parts.append(f"{Path(f).name}:{n} {fn}" + (f" `{src}`" if src else ""))
    if lib_frame:
        f, n, fn = lib_frame
        parts.append(f"waiting in {Path(f).name}:{n} {fn}")
    return head + (": " + ", ".join(parts) if parts else "")


class TargetRun:
    def __init__(self, target: str, ids: list[str], args, workdir: Path):
        self.target = target
        self.ids = ids
        self.args = args
        self.workdir = workdir / target
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, dict] = {}
        self.elapsed = 0.0

    def env(self) -> dict:
        env = dict(os.environ)
        env["ZEORAID_CONFORMANCE_LOG_DIR"] = str(self.workdir / "server-logs")
        if self.args.encoding == "msgpack":
            env["ZEO_MSGPACK"] = "1"
        else:
            env.pop("ZEO_MSGPACK", None)
        env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(self, progress) -> None:
        t_start = time.monotonic()
        remaining = list(self.ids)
        n_workers = 0
        while remaining:
            n_workers += 1
            ids_file = self.workdir / f"ids-{n_workers}.txt"
            ids_file.write_text("\n".join(remaining) + "\n")
            results_file = self.workdir / f"results-{n_workers}.jsonl"
            log_path = self.workdir / f"worker-{n_workers}.log"
            cwd = self.workdir / f"cwd-{n_workers}"
            cwd.mkdir(exist_ok=True)
            argv = [sys.executable, str(Path(__file__).resolve()), "--worker",
                    "--target", self.target, "--ids-file", str(ids_file),
                    "--results-file", str(results_file), "--mirrors",
                    str(self.args.mirrors)]
            if self.args.all_levels:
                argv.append("--all-levels")
            if self.args.no_substitute:
                argv.append("--no-substitute")
            with open(log_path, "ab") as logf:
                proc = subprocess.Popen(argv, cwd=cwd, env=self.env(),
                                        stdin=subprocess.DEVNULL, stdout=logf,
                                        stderr=subprocess.STDOUT,
                                        start_new_session=True)
            remaining = self._follow(proc, results_file, log_path, remaining, progress)
        self.elapsed = time.monotonic() - t_start

    def _kill(self, proc) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def _follow(self, proc, results_file: Path, log_path: Path, remaining: list[str],
                progress) -> list[str]:
        pos = 0
        current: Optional[str] = None
        started = time.monotonic()
        collect_deadline = time.monotonic() + 180
        done_ids: set[str] = set()
        server_logs: list[str] = []
        buf = ""
        while True:
            exited = proc.poll() is not None
            try:
                with open(results_file) as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
            except FileNotFoundError:
                chunk = ""
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev["event"] == "start":
                    current, started = ev["id"], time.monotonic()
                    server_logs = []
                elif ev["event"] == "server":
                    server_logs += ev.get("logs", [])
                elif ev["event"] == "end":
                    ev["target"] = self.target
                    self.results[ev["id"]] = ev
                    done_ids.add(ev["id"])
                    current = None
                    progress(self, ev)
                elif ev["event"] == "done":
                    proc.wait()
                    return []
                elif ev["event"] == "worker":
                    collect_deadline = None
            if current is not None and time.monotonic() - started > self.args.timeout:
                since = log_path.stat().st_size if log_path.exists() else 0
                try:
                    os.kill(proc.pid, signal.SIGUSR1)  # stacks into the log
                    time.sleep(1.5)
                except ProcessLookupError:
                    pass
                self._kill(proc)
                import zeoraid_forker
                ev = {"event": "end", "id": current, "status": "hang",
                      "symptom": _hang_symptom(log_path, since, self.args.timeout),
                      "detail": "", "duration": self.args.timeout, "requests": [],
                      "server_warnings": zeoraid_forker.warnings_of(
                          {"logs": server_logs}, 4),
                      "target": self.target, "log": str(log_path)}
                self.results[current] = ev
                progress(self, ev)
                done_ids.add(current)
                return [i for i in remaining if i not in done_ids]
            if collect_deadline is not None and time.monotonic() > collect_deadline:
                self._kill(proc)
                exited = True
            if exited and not chunk:
                # the worker died (or never started) without saying "done"
                tail = log_path.read_bytes()[-3000:].decode("utf-8", "replace") \
                    if log_path.exists() else ""
                victim = current or next((i for i in remaining if i not in done_ids),
                                         None)
                if victim is None:
                    return []
                last = [l for l in tail.strip().splitlines() if l.strip()][-1:] or [""]
                ev = {"event": "end", "id": victim, "status": "crash",
                      "symptom": f"worker exited with status {proc.returncode}: "
                                 f"{last[0][:200]}",
                      "detail": tail, "duration": 0, "requests": [],
                      "target": self.target, "log": str(log_path)}
                self.results[victim] = ev
                progress(self, ev)
                done_ids.add(victim)
                return [i for i in remaining if i not in done_ids]
            time.sleep(0.1)


def list_tests(args) -> list[str]:
    """Collect in a subprocess (so the orchestrator never imports the suites)."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--collect-only"]
        + (["--all-levels"] if args.all_levels else []),
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(HERE)),
        cwd=tempfile.gettempdir(), timeout=300)
    if out.returncode != 0:
        sys.exit(f"collecting the suites failed:\n{out.stderr}")
    return [l for l in out.stdout.splitlines() if l.strip()]


def classify(test_id: str, by_target: dict[str, dict]) -> Optional[str]:
    klass = static_class(test_id)
    if klass:
        return klass
    for r in by_target.values():
        if r and r.get("requests"):
            d = dynamic_class(r["requests"])
            if d:
                return d
    plain, runzeo = by_target.get("plain"), by_target.get("runzeo")
    if (plain and runzeo and plain["status"] == STATUS_PASS
            and runzeo["status"] != STATUS_PASS):
        return ("not applicable: fails with the forker replacement without a RAID "
                "(runzeo target) too")
    ran = [r for r in by_target.values() if r and r.get("status") in (STATUS_PASS,
                                                                      "fail", "error")]
    if ran and all(not r.get("requests") for r in ran) and any(
            r.get("status") == STATUS_PASS for r in ran):
        return "not applicable: starts no server through ZEO's forker"
    return None


def _cell(r: Optional[dict]) -> str:
    if r is None:
        return "-"
    s = r["status"]
    return "pass" if s == STATUS_PASS else s.upper()


def make_rows(ids, runs: dict[str, dict[str, dict]], run_na: bool):
    rows = []
    for tid in ids:
        by_target = {t: runs[t].get(tid) for t in runs}
        klass = classify(tid, by_target)
        rows.append((tid, by_target, klass))
    return rows


def verdict(rows, targets: list[str]) -> tuple[list, list]:
    """(regressions, raid failures): tests passing on plain but not through the RAID
    (not applicable excluded); with no plain results, every applicable test that did
    not pass through the RAID."""
    regress, failing = [], []
    for tid, by, klass in rows:
        raid = by.get("raid")
        if klass or raid is None:
            continue
        if raid["status"] != STATUS_PASS:
            failing.append((tid, by, klass))
            plain = by.get("plain")
            if plain is None or plain["status"] == STATUS_PASS:
                regress.append((tid, by, klass))
    return regress, failing


def write_report(path: Path, rows, runs, args, elapsed: dict, started: str) -> None:
    targets = list(runs)
    lines = []
    lines.append("# ZEO's own test suite: plain ZEO vs. ZEORaid\n")
    lines.append(f"Generated by `tests/conformance/run_upstream.py` ({started}); "
                 f"encoding **{args.encoding}**, {args.mirrors} mirrors, per-test "
                 f"timeout {args.timeout:.0f} s"
                 + (", --quick" if args.quick else "")
                 + (f", -k {' '.join(args.k)}" if args.k else "") + ".\n")
    try:
        import importlib.metadata as md
        vers = ", ".join(f"{p} {md.version(p)}" for p in ("ZODB", "ZEO"))
        lines.append(f"Packages: {vers}; Python {sys.version.split()[0]}.\n")
    except Exception:
        pass
    build = BUILD_INFO
    if build:
        lines.append("Binaries: " + ", ".join(
            f"{k} built {v}" for k, v in build.items() if k != "HEAD")
            + (f"; repository HEAD `{build['HEAD']}`" if build.get("HEAD") else "")
            + ".\n")
    lines.append("## Counts\n")
    applicable = [(tid, by) for tid, by, k in rows if not k]
    na = sum(1 for _, _, k in rows if k)
    shared = sum(1 for _, _, k in rows if k == NA_SHARED_BLOBS)
    lines.append(f"{len(rows)} tests: **{len(applicable)} applicable** to the RAID, "
                 f"{na} not applicable ({shared} of them: shared blob directories)."
                 "\n")
    lines.append("| | " + " | ".join(targets) + " |")
    lines.append("|---|" + "---|" * len(targets))
    lines.append("| **applicable tests passing** | " + " | ".join(
        f"**{sum(1 for _, by in applicable if by.get(t) and by[t]['status'] == STATUS_PASS)}"
        f"**" for t in targets) + " |")
    lines.append("| tests run | " + " | ".join(
        str(sum(1 for _, by, _ in rows if by.get(t))) for t in targets) + " |")
    for st in ["pass", "fail", "error", "hang", "crash", "skip"]:
        lines.append(f"| {st} (of the tests run) | " + " | ".join(
            str(sum(1 for _, by, _ in rows if by.get(t) and by[t]["status"] == st))
            for t in targets) + " |")
    lines.append("| run time | " + " | ".join(
        f"{elapsed.get(t, 0) / 60:.1f} min" for t in targets) + " |")
    lines.append("\nNot-applicable tests run through the RAID anyway (the dynamic "
                 "classes, see README.md) count under *tests run*, not under "
                 "*applicable tests passing*.\n")
    if "raid" in runs:
        regress, failing = verdict(rows, targets)
        both = "plain" in runs
        title = ("Pass on plain ZEO, fail through ZEORaid (the work queue)" if both
                 else "Fail through ZEORaid")
        lines.append(f"## {title}: {len(regress if both else failing)}\n")
        for tid, by, _ in (regress if both else failing):
            r = by["raid"]
            sym = (r.get("symptom") or "").replace("\n", " ")
            logs = r.get("server_warnings") or []
            extra = f" — RAID log: {logs[0]}" if logs else ""
            lines.append(f"- `{tid}` — {r['status'].upper()}: {sym}{extra}")
        lines.append("")
        only_raid = [(tid, by) for tid, by, k in rows if not k and by.get("raid")
                     and by.get("plain") and by["raid"]["status"] == STATUS_PASS
                     and by["plain"]["status"] != STATUS_PASS]
        if only_raid:
            lines.append(f"## Fail on plain ZEO, pass through ZEORaid: {len(only_raid)}\n")
            for tid, by in only_raid:
                sym = (by["plain"].get("symptom") or "").replace("|", "\\|")
                lines.append(f"- `{tid}` — plain {by['plain']['status'].upper()}: {sym}")
            lines.append("")
    lines.append("## All tests\n")
    lines.append("| test | " + " | ".join(targets) + " | notes |")
    lines.append("|---|" + "---|" * len(targets) + "---|")
    for tid, by, klass in rows:
        cells = []
        for t in targets:
            r = by.get(t)
            if t != "plain" and klass and (r is None):
                cells.append("n/a")
            else:
                c = _cell(r)
                if t != "plain" and klass and r is not None:
                    c += " (n/a)"
                cells.append(c)
        notes = []
        if klass:
            notes.append(klass)
        subs = []  # what the RAID's replacement changed (the runzeo target's alike)
        for t in sorted(targets, key=lambda t: t != "raid"):
            subs = sorted({q["substituted"] for q in (by.get(t) or {}).get("requests", [])
                           if q.get("substituted")})
            if subs:
                break
        notes.extend(subs)
        for t in targets:
            r = by.get(t)
            if r and r["status"] not in (STATUS_PASS, "skip") and r.get("symptom"):
                notes.append(f"{t}: {r['symptom']}")
                if r.get("server_warnings"):
                    notes.append(f"RAID log: {r['server_warnings'][0]}")
        note = "; ".join(notes).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{tid}` | " + " | ".join(cells) + f" | {note} |")
    path.write_text("\n".join(lines) + "\n")


def copy_binaries(dest: Path) -> Path:
    """Copy the three binaries, so a concurrent rebuild cannot change them mid-run."""
    import zeoraid_forker
    src = zeoraid_forker.bin_dir()
    for package, name in (("raidcore", "zeoraid-raidcore"),
                          ("translator", "zeoraid-translator"),
                          ("admin", "zeoraid-admin")):
        s = src / package / name
        if not s.is_file():
            sys.exit(f"{s} not found: build it (bazel build //{package}:{name}) or set "
                     f"ZEORAID_BIN_DIR")
        (dest / package).mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, dest / package / name)
        BUILD_INFO[name] = datetime.datetime.fromtimestamp(
            s.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    try:
        BUILD_INFO["HEAD"] = subprocess.run(
            ["git", "-C", str(src.parent), "log", "-1", "--format=%h %s"],
            capture_output=True, text=True, timeout=10).stdout.strip()[:100]
    except Exception:
        pass
    return dest


BUILD_INFO: dict[str, str] = {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Run ZEO's own test suite against plain ZEO and through ZEORaid "
                    "and compare, test by test.",
        epilog="Exit status: 0 when every test that passes on plain ZEO also passes "
               "through the RAID (not-applicable tests excluded), 1 otherwise.")
    p.add_argument("--target", choices=["plain", "raid", "both", "runzeo", "all"],
                   default="both", help="plain ZEO, the RAID, or both (default). "
                   "runzeo: diagnostic, the RAID's forker replacement with one runzeo "
                   "subprocess and no RAID; all: plain, runzeo and raid")
    p.add_argument("--encoding", choices=["pickle", "msgpack"], default="pickle",
                   help="ZEO encoding: msgpack sets ZEO_MSGPACK=1 (plain servers and "
                   "backends speak M5, the translator gets --msgpack)")
    p.add_argument("--quick", action="store_true",
                   help="only the fixed QUICK subset (passes through the RAID today; "
                   "< 2 min per target)")
    p.add_argument("-k", action="append", default=[], metavar="PATTERN",
                   help="only tests whose id matches this regex (case-insensitive; "
                   "repeat for OR)")
    p.add_argument("--report", type=Path, help="write a markdown report here")
    p.add_argument("--json", type=Path, help="save all results (JSON) here")
    p.add_argument("--baseline", type=Path,
                   help="results JSON of an earlier run whose plain results stand in "
                   "for --target raid")
    p.add_argument("--load", type=Path, action="append", default=[], metavar="JSON",
                   help="do not run: rebuild the summary/report from results saved "
                   "with --json (repeatable; a later file's result of a test wins, "
                   "so a partial rerun can be merged into a full run)")
    p.add_argument("--timeout", type=float, default=150.0,
                   help="per-test deadline in seconds (default 150)")
    p.add_argument("--mirrors", type=int, default=2, help="backends per RAID (2)")
    p.add_argument("--run-na", action="store_true",
                   help="also run the statically not-applicable tests through the "
                   "RAID (their result is shown, not counted)")
    p.add_argument("--all-levels", action="store_true",
                   help="include tests above level 1 (FileStorageLoadDelayedTests, "
                   "like zope-testrunner --all)")
    p.add_argument("--no-substitute", action="store_true",
                   help="raid target: do not serve <mappingstorage> servers by "
                   "FileStorage mirrors (MappingStorage cannot commit at a given tid, "
                   "which mirroring needs): such tests become not applicable")
    p.add_argument("--jobs", type=int, default=1, choices=[1, 2],
                   help="2: run the plain and raid targets at the same time")
    p.add_argument("--list", action="store_true",
                   help="list the selected tests with their static classification")
    p.add_argument("--workdir", type=Path, help="keep logs and data here "
                   "(default: a new temp dir, removed at the end; the report "
                   "and --json keep each failure's symptom and log lines)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-test progress")
    # internal
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--collect-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ids-file", help=argparse.SUPPRESS)
    p.add_argument("--results-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.collect_only:
        for tid, *_ in collect(args.all_levels):
            print(tid)
        sys.stdout.flush()
        os._exit(0)
    if args.worker:
        return worker_main(args)

    all_ids = list_tests(args)
    ids = all_ids
    if args.quick:
        missing = [q for q in QUICK if q not in all_ids]
        if missing:
            print(f"warning: quick tests not collected: {missing}", file=sys.stderr)
        ids = [q for q in QUICK if q in all_ids]
    if args.k:
        pats = [re.compile(k, re.I) for k in args.k]
        ids = [i for i in ids if any(pt.search(i) for pt in pats)]
    if not ids:
        print("no tests selected", file=sys.stderr)
        return 2
    if args.list:
        for i in ids:
            k = static_class(i)
            print(i + (f"    [{k}]" if k else ""))
        return 0

    if args.load:
        return summarize(args, ids, load_results(args.load, ids), {}, None)

    targets = {"both": ["plain", "raid"], "all": ["plain", "runzeo", "raid"]
               }.get(args.target, [args.target])
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run_targets(args, ids, targets, args.workdir)
    workdir = Path(tempfile.mkdtemp(prefix="zeoraid-upstream-"))
    try:
        return run_targets(args, ids, targets, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_targets(args, ids: list[str], targets: list[str], workdir: Path) -> int:
    """Runs `ids` on each target with its data and logs under `workdir`, then
    prints (and writes) the summary; the exit status of summarize."""
    if any(t != "plain" for t in targets):
        os.environ["ZEORAID_BIN_DIR"] = str(copy_binaries(workdir / "bin"))
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    print(f"{len(ids)} tests, targets {', '.join(targets)}, encoding {args.encoding}; "
          f"logs in {workdir}", flush=True)

    total = len(ids)

    def progress(run: TargetRun, ev: dict) -> None:
        if args.quiet:
            return
        n = len(run.results)
        sym = f"  {ev.get('symptom', '')[:150]}" if ev["status"] not in (
            STATUS_PASS, "skip") else ""
        print(f"[{run.target} {n}/{len(run.ids)}] {ev['status']:5} "
              f"{ev.get('duration', 0):6.1f}s {ev['id']}{sym}", flush=True)

    runs: dict[str, TargetRun] = {}
    for t in targets:
        run_ids = ids
        if t != "plain" and not args.run_na:
            run_ids = [i for i in ids if not static_class(i)]
        runs[t] = TargetRun(t, run_ids, args, workdir)
    if args.jobs == 2 and len(runs) > 1:
        import threading
        threads = [threading.Thread(target=r.run, args=(progress,)) for r in runs.values()]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    else:
        for r in runs.values():
            r.run(progress)

    results = {t: r.results for t, r in runs.items()}
    if args.baseline and "plain" not in results:
        base = load_results([args.baseline], ids)
        results = {"plain": base.get("plain", {}), **results}
    elapsed = {t: r.elapsed for t, r in runs.items()}
    return summarize(args, ids, results, elapsed, started)


def load_results(paths: list[Path], ids: list[str]) -> dict[str, dict]:
    """Results saved with --json, merged per target, symptoms recomputed."""
    results: dict[str, dict] = {}
    elapsed: dict[str, float] = {}
    for path in paths:
        data = json.loads(path.read_text())
        if data.get("started"):
            load_results.started = data["started"]
        if data.get("build"):
            args_build = getattr(load_results, "build", {})
            args_build.update(data["build"])
            load_results.build = args_build
        for t, res in data["results"].items():
            results.setdefault(t, {}).update(res)  # per test: later files win
            if data.get("elapsed", {}).get(t):
                elapsed[t] = max(elapsed.get(t, 0), data["elapsed"][t])
    for res in results.values():
        for r in res.values():
            if r.get("status") in ("fail", "error") and r.get("detail"):
                r["symptom"] = _symptom_from(r["detail"])
    load_results.elapsed = elapsed
    return {t: {i: r for i, r in res.items() if i in ids} for t, res in results.items()}


def summarize(args, ids, results, elapsed, started) -> int:
    if not elapsed:
        elapsed = getattr(load_results, "elapsed", {})
    if not BUILD_INFO:
        BUILD_INFO.update(getattr(load_results, "build", {}))
    if started is None:
        started = getattr(load_results, "started", None) or \
            datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    results = {t: results[t] for t in ("plain", "raid", "runzeo") if t in results}
    rows = make_rows(ids, results, args.run_na)

    # the per-test summary
    cols = list(results)
    width = max(len(i) for i in ids)
    print()
    print(f"{'test':{width}}  " + "  ".join(f"{c:7}" for c in cols))
    for tid, by, klass in rows:
        cells = []
        for c in cols:
            r = by.get(c)
            if c != "plain" and klass and r is None:
                cells.append("n/a")
            else:
                cells.append(_cell(r))
        print(f"{tid:{width}}  " + "  ".join(f"{x:7}" for x in cells)
              + (f"  {klass}" if klass else ""))
    regress, failing = verdict(rows, cols)
    applicable = [by for _, by, k in rows if not k]
    counts = {c: sum(1 for by in applicable if by.get(c)
                     and by[c]["status"] == STATUS_PASS) for c in cols}
    na = sum(1 for _, _, k in rows if k)
    shared = sum(1 for _, _, k in rows if k == NA_SHARED_BLOBS)
    print()
    print(f"{len(rows)} tests: {len(applicable)} applicable, {na} not applicable "
          f"({shared} of them: shared blob directories)")
    print("applicable tests passing: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    for t, e in elapsed.items():
        print(f"{t}: {e / 60:.1f} min")
    if "raid" in results:
        bad = regress if "plain" in results else failing
        label = ("pass on plain, fail through the RAID" if "plain" in results
                 else "fail through the RAID")
        print(f"{label}: {len(bad)}")
        for tid, by, _ in bad:
            r = by["raid"]
            print(f"  {tid}: {r['status']}: {r.get('symptom', '')[:200]}")
            for w in (r.get("server_warnings") or [])[:1]:
                print(f"      RAID log: {w[:200]}")
    if args.report:
        write_report(args.report, rows, results, args, elapsed, started)
        print(f"report: {args.report}")
    if args.json:
        args.json.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(args).items()},
            "build": BUILD_INFO, "started": started,
            "elapsed": elapsed, "ids": ids, "results": results}, indent=1))
    if "raid" in results:
        return 1 if (regress if "plain" in results else failing) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
