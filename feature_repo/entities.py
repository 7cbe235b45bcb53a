"""Feast entities: every feature row belongs to a ticker at a decision time."""

from feast import Entity, ValueType

ticker = Entity(
    name="ticker",
    join_keys=["ticker"],
    value_type=ValueType.STRING,
    description="Stock symbol, upper case as in ivcrush.db.",
)
