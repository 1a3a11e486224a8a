"""Graphs in pages: the alert expression over time with its threshold and firing span (docs/graphs.md)."""
