"""Dispatch core: unit status machine, recommendation, positions, timers (pure, no Flask)."""
