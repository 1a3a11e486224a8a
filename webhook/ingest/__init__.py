"""Ingest: the Alertmanager payload, its preparation, the group-commit writer, the dedup batch and the ingest
process (the webhook itself is webhook/api/alertmanager.py)."""
