"""A stateful fake Kubernetes API server on loopback that the real `kubernetes` client talks to."""

from tests.fakekube.server import FakeKube, RecordedRequest

__all__ = ["FakeKube", "RecordedRequest"]
