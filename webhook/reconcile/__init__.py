"""Reconcile with Alertmanager: the leader polls its API and closes, adopts and marks suppressed alerts."""
