"""Ingest: the fast and the pydantic decoders, recorded Alertmanager payloads, the ingest process."""
