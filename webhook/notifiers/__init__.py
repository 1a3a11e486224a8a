"""Notifiers: one small module per channel behind the one-method Notifier protocol of base.py."""
