"""Prometheus metrics of raidcore and the translator, scraped by a real Prometheus.

raidcore and the translator serve /metrics on --metrics_listen. A real Prometheus
(Debian's `prometheus`, installed by tools/setup) scrapes both every second, and the
test asks its HTTP API what it saw while a workload commits, a backend is killed and
then recovered.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.parse
import urllib.request

import pytest
import transaction

import harness

pytestmark = pytest.mark.raid_only


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as e:  # Prometheus not ready, no sample yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Prometheus:
    def __init__(self, cluster: harness.Cluster, targets: dict[str, int]):
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not installed: run tools/setup")
        self.port = harness.free_port()
        workdir = cluster.workdir / "prometheus"
        workdir.mkdir()
        jobs = "".join(
            f"  - job_name: {job}\n"
            f"    static_configs:\n"
            f"      - targets: ['127.0.0.1:{port}']\n"
            for job, port in targets.items())
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          f"scrape_configs:\n{jobs}")
        cluster.supervisor.spawn("prometheus", [
            binary, f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}"])
        wait_until(lambda: "Ready" in http_get(self.url("/-/ready")), 60,
                   "Prometheus to be ready")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, expr: str) -> list[tuple[dict, float]]:
        body = json.loads(http_get(self.url(
            "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))))
        assert body["status"] == "success", body
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        if not result:
            raise LookupError(f"no sample for {expr}")
        return result[0][1]


def test_prometheus_scrapes_raidcore_and_translator(make_cluster):
    rc_port, tr_port = harness.free_port(), harness.free_port()
    cluster = make_cluster(
        raidcore_args=["--metrics_listen", f"127.0.0.1:{rc_port}"],
        translator_args=["--metrics_listen", f"127.0.0.1:{tr_port}"])
    prom = Prometheus(cluster, {"raidcore": rc_port, "translator": tr_port})
    wait_until(lambda: prom.value('up{job="raidcore"}') == 1 and
               prom.value('up{job="translator"}') == 1, 30,
               "both targets up in Prometheus")

    db = cluster.db()
    stop = threading.Event()
    errors: list[BaseException] = []

    def workload() -> None:
        conn = db.open()
        try:
            n = 0
            while not stop.is_set():
                conn.root()[f"k{n % 50}"] = n
                transaction.commit()
                n += 1
                time.sleep(0.01)
        except BaseException as e:
            errors.append(e)
        finally:
            transaction.abort()
            conn.close()

    worker = threading.Thread(target=workload)
    worker.start()
    try:
        first = wait_until(lambda: prom.value("zeoraid_commits_total"), 30,
                           "a commit count in Prometheus")
        wait_until(lambda: prom.value("zeoraid_commits_total") > first + 20, 30,
                   "the commit counter to rise")
        assert prom.value('zeoraid_translator_calls_total{method="tpc_finish"}') > 0
        assert prom.value("zeoraid_commit_duration_seconds_count") > 0
        assert prom.value('sum(zeoraid_backend_calls_total{method="vote"})') > 0
        # Per-RPC counts come when an RPC ends: the commit and load streams
        # are long-lived (kept between transactions), the unary calls are not.
        assert prom.value(
            'sum(zeoraid_rpcs_total{method="/zeoraid.v1.Storage/Register",code="0"})'
        ) > 0
        assert prom.value('sum(zeoraid_backend_call_duration_seconds_count'
                          '{method="loadBefore"})') > 0
        assert prom.value('zeoraid_raid_state{state="optimal"}') == 1
        assert prom.value(
            'zeoraid_backend_state{backend="backend2",state="optimal"}') == 1

        victim = cluster.backends[1]
        victim.kill()
        wait_until(lambda: prom.value(
            'zeoraid_backend_state{backend="backend2",state="degraded"}') == 1, 30,
            "backend2's state series to show degraded")
        assert prom.value('zeoraid_raid_state{state="degraded"}') == 1
        assert prom.value('sum(zeoraid_degradations_total{backend="backend2"})') >= 1
        assert prom.value("zeoraid_recovery_bytes_total") == 0

        down_at = prom.value("zeoraid_commits_total")
        wait_until(lambda: prom.value("zeoraid_commits_total") > down_at + 20, 30,
                   "commits while backend2 is down")
        victim.start(fixed_port=True)
        wait_until(lambda: prom.value("zeoraid_recovery_bytes_total") > 0, 60,
                   "recovery bytes to rise")
        wait_until(lambda: prom.value(
            'zeoraid_backend_state{backend="backend2",state="optimal"}') == 1, 60,
            "backend2 optimal again")
        assert prom.value("zeoraid_recovery_transactions_total") >= 20
    finally:
        stop.set()
        worker.join(30)
    assert not errors, errors


REPO = harness.REPO_ROOT
RULES = REPO / "ops" / "prometheus" / "zeoraid-rules.yml"
DASHBOARD = REPO / "ops" / "grafana" / "zeoraid.json"


def metric_names(text: str) -> set[str]:
    """zeoraid_* metric names in PromQL text, histogram series reduced to their
    family (_bucket, _count, _sum)."""
    import re
    names = set(re.findall(r"\bzeoraid_[a-z_]+", text))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def test_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed: run tools/setup")
    import subprocess
    result = subprocess.run([promtool, "check", "rules", str(RULES)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_metric_of_the_rules_and_dashboard_exists(make_cluster):
    rc_port, tr_port = harness.free_port(), harness.free_port()
    cluster = make_cluster(
        raidcore_args=["--metrics_listen", f"127.0.0.1:{rc_port}"],
        translator_args=["--metrics_listen", f"127.0.0.1:{tr_port}"])
    db = cluster.db()  # a commit and a load, so that every family has a sample
    conn = db.open()
    conn.root()["x"] = 1
    transaction.commit()
    conn.close()
    exposed = set()
    import re
    for port in (rc_port, tr_port):
        text = http_get(f"http://127.0.0.1:{port}/metrics")
        exposed |= set(re.findall(r"^# TYPE (zeoraid_[a-z_]+) ", text, re.M))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = metric_names(RULES.read_text()) | metric_names("\n".join(exprs))
    assert len(used) >= 15, used
    missing = sorted(used - exposed)
    assert not missing, f"used by the rules or the dashboard but not exposed: {missing}"
