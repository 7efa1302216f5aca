"""Samplers (plain functions with a per-step callback) and, later, SNIO."""
