"""Plots drawn from prediction tables and attention arrays (never from models)."""
