"""Tocsin's service: Alertmanager webhook in, deduplicated durable incidents, escalation and remediation out.

The package name is fixed by the product brief (it names one endpoint of many): its children are the service's
domains (ingest, incidents, escalation, notifiers, oncall, remediation) over the storage engine (store) and the
configuration (config); app.py, child.py and cli.py are the composition roots.
"""

__version__ = "0.1.0"
