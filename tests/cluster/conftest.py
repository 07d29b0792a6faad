"""A real Dask cluster on this machine for the --cluster tests: a scheduler and two
worker processes of one thread each (the same processes `dask worker` starts)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="module")  # gone when its tests are: the machine is shared
def dask_cluster():
    distributed = pytest.importorskip("distributed")  # the `cluster` extra; CI installs it
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=logging.ERROR) as lc:
        yield lc


@pytest.fixture
def cluster(dask_cluster) -> str:
    """The scheduler's address, as a user passes it to --cluster."""
    return dask_cluster.scheduler_address
