"""Incidents: the pure dedup and flap decisions, and deliveries deduplicated into incidents."""
