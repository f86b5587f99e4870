"""Orchestration: the sync pipeline, recompute and configuration import."""
