"""The alert-quality report: what the pages of a period were worth (docs/report.md)."""
