"""raidcore's gRPC surface as an operator reaches it: the real grpcurl (built into
.venv/bin by tools/setup) lists the services through server reflection, calls
Admin/Status, and watches a backend's grpc.health.v1 service turn NOT_SERVING when
the backend is killed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

import harness

pytestmark = pytest.mark.raid_only


def grpcurl_binary() -> str:
    path = harness.REPO_ROOT / ".venv" / "bin" / "grpcurl"
    if path.exists():
        return str(path)
    found = shutil.which("grpcurl")
    if found is None:
        pytest.fail("grpcurl not installed: run tools/setup")
    return found


def grpcurl(cluster: harness.Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [grpcurl_binary(), "-plaintext", *args[:-1],
         harness.format_addr(cluster.raidcore.addr), args[-1]],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_grpcurl_lists_calls_status_and_sees_health_flip(cluster):
    listed = grpcurl(cluster, "list")
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"zeoraid.v1.Admin", "zeoraid.v1.Storage",
            "grpc.health.v1.Health"} <= services, services

    status = grpcurl(cluster, "zeoraid.v1.Admin/Status")
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    assert body["state"] == "RAID_OPTIMAL", body
    assert {b["name"] for b in body["backends"]} == {"backend1", "backend2"}

    def health(service: str) -> str:
        r = grpcurl(cluster, "-d", json.dumps({"service": service}),
                    "grpc.health.v1.Health/Check")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["status"]

    assert health("") == "SERVING"
    assert health("backend2") == "SERVING"
    cluster.backends[1].kill()
    deadline = time.monotonic() + 30
    while health("backend2") != "NOT_SERVING":
        assert time.monotonic() < deadline, "backend2's health never turned"
        time.sleep(0.2)
    # The RAID still serves on the other mirror.
    assert health("") == "SERVING"
    assert health("backend1") == "SERVING"
