"""Remediation in the service: run requests, the worker around remediator.Engine, approvals, the bridge to
escalation, the run store and its tables."""
