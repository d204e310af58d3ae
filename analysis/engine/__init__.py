"""Sleuth's passes on another engine than DuckDB: Spark through Spark Connect."""

DEFAULT_SAMPLE_ROWS = 1_000_000
"""Rows pulled from Spark for what needs rows (:mod:`analysis.engine.sample`) unless told:
about 250 MB for a 30-column log, inside the client's 1 GB with room for the analysis.
Here, not in the sample module, so the CLI shows it without importing Spark's client."""
