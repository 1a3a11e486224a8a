"""Tests of the remediation wiring in the service: SQL run store, run requests, API, end to end."""
