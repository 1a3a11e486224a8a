"""Escalation: routing to policies, contacts, the durable step timer and its worker, `tocsin route test`."""
