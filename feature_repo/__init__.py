"""Feast feature repository: entities, data sources, feature views and services."""
