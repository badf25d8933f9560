"""Fixtures for the ZEORaid system tests (see harness.py for the environment)."""

from __future__ import annotations

import pytest

import harness

_clusters_key = pytest.StashKey[list]()


def pytest_report_header(config):
    kind = harness.target_kind()
    where = f", binaries from {harness.bin_dir()}" if kind == "raid" else ""
    return f"zeoraid target: {kind}{where}"


@pytest.fixture(scope="session", autouse=True)
def _stop_leftovers():
    """Whatever a test left running (e.g. after a timeout) is stopped at session end."""
    yield
    harness.stop_all_live()


@pytest.fixture
def make_cluster(request, tmp_path):
    """Factory: ``make_cluster(**kw)`` starts a :class:`harness.Cluster` (the target
    chosen by ZEORAID_TARGET) in this test's tmp dir; every cluster is stopped at
    teardown and its process logs are attached to a failure report."""
    clusters: list[harness.Cluster] = []
    request.node.stash[_clusters_key] = clusters

    def make(**kw) -> harness.Cluster:
        workdir = tmp_path / f"cluster{len(clusters)}"
        workdir.mkdir()
        cluster = harness.Cluster(workdir, **kw)
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield make
    errors = []
    for c in reversed(clusters):
        try:
            c.stop()
        except Exception as e:
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def cluster(make_cluster) -> harness.Cluster:
    """A fresh, started target: clients connect to ``cluster.addr``."""
    return make_cluster()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "raid_only: needs raidcore/translator (skipped with ZEORAID_TARGET=plain)")


def pytest_collection_modifyitems(config, items):
    if harness.target_kind() == "raid":
        return
    skip = pytest.mark.skip(reason="needs the RAID (ZEORAID_TARGET=raid)")
    for item in items:
        if item.get_closest_marker("raid_only"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for cluster in item.stash.get(_clusters_key, []):
            for title, text in cluster.logs():
                report.sections.append((f"process log: {title}", text))
    return report
