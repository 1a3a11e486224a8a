"""The HA drill's cluster fixture: started once for the drill's tests, always torn down (also on failure)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.cluster import Cluster, watchdog

#: Seeds per fault: `make test` runs 1 (the bounded drill), `make test-ha` 5.
SEEDS = max(int(os.environ.get("TOCSIN_HA_SEEDS", "1")), 1)
#: Hard bound of the whole drill: past it the watchdog kills the cluster so every wait fails fast.
BOUND_S = 330.0 if SEEDS == 1 else 240.0 + 150.0 * SEEDS


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    for tool in ("haproxy",):
        if shutil.which(tool) is None and not Path("/usr/sbin/haproxy").exists():
            pytest.fail(f"{tool} is missing: run `make sysdeps` (Debian package haproxy)")
    root = Path(tempfile.mkdtemp(prefix="tocsin-ha-"))
    c = Cluster(root)
    try:
        with watchdog(c, BOUND_S):
            c.start()
            yield c
    finally:
        c.close()
