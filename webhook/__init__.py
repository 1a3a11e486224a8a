"""Tocsin's service: Alertmanager webhook in, deduplicated durable incidents, escalation and remediation out."""

__version__ = "0.1.0"
