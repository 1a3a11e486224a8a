"""Maintenance windows: label matchers and a time (one-off or weekly) during which matching incidents are
stored and shown but neither page nor start runbooks (docs/windows.md)."""
