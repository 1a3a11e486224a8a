"""Fixtures of the e2e tests: `tocsin serve` as a real process (tests/support/tocsin_proc.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tocsin_proc import Tocsin, make_tocsin


@pytest.fixture
def tocsin(tmp_path: Path) -> Iterator[Tocsin]:
    t = make_tocsin(tmp_path / "tocsin", f"sqlite:///{tmp_path / 'tocsin.db'}")
    t.start()
    yield t
    t.stop()
