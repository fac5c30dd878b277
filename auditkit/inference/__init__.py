"""Batched, cached inference."""
