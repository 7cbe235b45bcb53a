"""Market data in the workspace (never in the user's database): daily prices and option quotes, their
documented columns and validation (`schema`), the Parquet store with its manifest (`store`), file imports
(`importer`) and the providers that collect them (`providers`)."""
