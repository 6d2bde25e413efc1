"""Scoring routers on recorded outcomes: data readers, metrics, reports."""
