"""The HTTP surface: the Alertmanager webhook (auth, limits, hostile input) and the incident API."""
