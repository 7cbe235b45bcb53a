"""Serving: online features, predictions and strategy."""
