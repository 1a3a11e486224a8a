"""Incidents: the state machine and dedup decisions, the in-transaction hook contract, human and timer actions,
queries, the timeline and the tables of record."""
