"""The trader's 2.0 database: its schema, a read-only consistent reader and a sample generator."""
