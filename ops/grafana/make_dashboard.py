"""Writes zeoraid.json, the Grafana dashboard over ZEORaid's metrics.

    python3 ops/grafana/make_dashboard.py      # rewrites ops/grafana/zeoraid.json

The panels are listed below (title, unit, PromQL expressions); the JSON is Grafana's
dashboard model (schemaVersion 38), with a Prometheus data source chosen at import
(${DS_PROMETHEUS}). tests/system/test_metrics.py checks that every metric these
expressions name exists in a live /metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

PANELS = [
    # (title, unit, kind, [(expr, legend)])
    ("RAID state", "none", "stat",
     [('max(zeoraid_raid_state{state="optimal"})', "optimal"),
      ('max(zeoraid_raid_state{state="degraded"})', "degraded"),
      ('max(zeoraid_raid_state{state="failed"})', "failed")]),
    ("Backend states", "none", "timeseries",
     [('zeoraid_backend_state == 1', "{{backend}} {{state}}")]),
    ("Commits per second", "ops", "timeseries",
     [("sum(rate(zeoraid_commits_total[1m]))", "commits"),
      ("sum(rate(zeoraid_aborts_total[1m]))", "aborts"),
      ("sum(rate(zeoraid_conflicts_total[1m]))", "conflicts")]),
    ("Commit duration (vote to finish)", "s", "timeseries",
     [("histogram_quantile(0.5, sum by (le) "
       "(rate(zeoraid_commit_duration_seconds_bucket[5m])))", "p50"),
      ("histogram_quantile(0.99, sum by (le) "
       "(rate(zeoraid_commit_duration_seconds_bucket[5m])))", "p99"),
      ("histogram_quantile(0.99, sum by (le) "
       "(rate(zeoraid_commit_lock_wait_seconds_bucket[5m])))", "lock wait p99")]),
    ("Degradations", "none", "timeseries",
     [("sum by (backend, kind) (increase(zeoraid_degradations_total[5m]))",
       "{{backend}} {{kind}}")]),
    ("Recovery", "none", "timeseries",
     [("zeoraid_recovery_running", "running"),
      ("zeoraid_recovery_remaining_transactions", "remaining transactions"),
      ("rate(zeoraid_recovery_transactions_total[1m])", "transactions/s")]),
    ("Recovery bytes per second", "Bps", "timeseries",
     [("rate(zeoraid_recovery_bytes_total[1m])", "copied"),
      ("zeoraid_recovery_rate_bytes_per_second", "job's own rate")]),
    ("Last commit age", "s", "stat",
     [("max(zeoraid_last_commit_age_seconds)", "age")]),
    ("Backend call latency p99", "s", "timeseries",
     [("histogram_quantile(0.99, sum by (backend, le) "
       "(rate(zeoraid_backend_call_duration_seconds_bucket[5m])))", "{{backend}}")]),
    ("Backend call errors per second", "ops", "timeseries",
     [("sum by (backend) (rate(zeoraid_backend_call_errors_total[1m]))",
       "{{backend}}"),
      ("sum by (backend) (rate(zeoraid_backend_calls_total[1m]))",
       "{{backend}} calls")]),
    ("raidcore RPCs per second", "ops", "timeseries",
     [("sum by (method, code) (rate(zeoraid_rpcs_total[1m]))", "{{method}} {{code}}"),
      ("histogram_quantile(0.99, sum by (le) "
       "(rate(zeoraid_rpc_duration_seconds_bucket{method=~\".*LoadBefore\"}[5m])))",
       "LoadBefore p99")]),
    ("Translator calls per second by method", "ops", "timeseries",
     [("sum by (method) (rate(zeoraid_translator_calls_total[1m])) > 0",
       "{{method}}")]),
    ("Translator call latency p99 by method", "s", "timeseries",
     [("histogram_quantile(0.99, sum by (method, le) "
       "(rate(zeoraid_translator_call_duration_seconds_bucket[5m])))",
       "{{method}}")]),
    ("Translator errors per second", "ops", "timeseries",
     [("sum by (kind) (rate(zeoraid_translator_errors_total[1m]))", "{{kind}}")]),
    ("Client connections", "none", "timeseries",
     [("sum by (instance) (zeoraid_translator_client_connections)",
       "{{instance}}")]),
    ("Record cache hit ratio", "percentunit", "timeseries",
     [("sum(rate(zeoraid_translator_cache_hits_total[5m])) / "
       "(sum(rate(zeoraid_translator_cache_hits_total[5m])) + "
       "sum(rate(zeoraid_translator_cache_misses_total[5m])))", "hits"),]),
    ("Record cache size and evictions", "bytes", "timeseries",
     [("sum by (instance) (zeoraid_translator_cache_bytes)", "{{instance}} bytes"),
      ("sum(rate(zeoraid_translator_cache_evictions_total[5m]))", "evictions/s")]),
    ("Translator traffic", "Bps", "timeseries",
     [("sum(rate(zeoraid_translator_received_bytes_total[1m]))", "from clients"),
      ("sum(rate(zeoraid_translator_sent_bytes_total[1m]))", "to clients"),
      ("sum(rate(zeoraid_translator_invalidations_sent_total[1m]))",
       "invalidations/s")]),
    ("Versions", "none", "table",
     [("zeoraid_build_info", "{{component}} {{version}}")]),
]


def dashboard() -> dict:
    panels = []
    for i, (title, unit, kind, targets) in enumerate(PANELS):
        panels.append({
            "id": i + 1,
            "title": title,
            "type": kind,
            "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [
                {"refId": chr(ord("A") + j), "expr": expr, "legendFormat": legend,
                 "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}}
                for j, (expr, legend) in enumerate(targets)],
        })
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus",
                      "type": "datasource", "pluginId": "prometheus",
                      "pluginName": "Prometheus"}],
        "title": "ZEORaid",
        "uid": "zeoraid",
        "tags": ["zeoraid", "zodb"],
        "timezone": "utc",
        "schemaVersion": 38,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panels,
    }


def main() -> None:
    out = Path(__file__).resolve().parent / "zeoraid.json"
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
