"""Tests of the remediator package."""
