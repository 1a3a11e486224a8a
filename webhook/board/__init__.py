"""The live incident board: the change feed read from the database, its per-process fan-out, the incident page."""
