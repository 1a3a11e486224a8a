"""Generators that keep derived files (PrometheusRule manifests, the docs alert table) in sync with their source."""
