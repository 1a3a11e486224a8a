"""Slack: the notifier (Block Kit messages), request signatures and interactions (button clicks)."""
