"""The db layer: sqlite store, schema, journal and the command table. Uses only the core."""
