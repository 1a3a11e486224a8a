"""Preventive incidents: exhaustion forecasts and seasonal baselines read from Prometheus (docs/prevention.md)."""
