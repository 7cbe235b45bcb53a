"""Data-quality suites (Great Expectations) on the raw 2.0 tables and on the dbt marts."""
