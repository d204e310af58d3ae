"""A sample both engines draw alike: rows chosen by a hash of the row id, not by a sampler.

DuckDB's ``USING SAMPLE`` and Spark's ``TABLESAMPLE`` choose different rows for the same seed,
so a quantile drawn from each differs, and with it every edge and count built on it. This
sample is a condition on the hidden row id (``ROW_ID``) in integer arithmetic both engines
compute exactly, so the same rows are kept wherever the same ids are: a single file read by
DuckDB (its row numbers) and by Spark (``monotonically_increasing_id`` of its one partition).

The hash is Fibonacci hashing: the id times the golden ratio's share of a Mersenne prime,
modulo that prime. Consecutive ids land about 0.618 of the range apart, so the kept rows
spread evenly over the file (and over time, in a log written in time order) rather than in
runs, as a plain multiplicative hash with a small factor would keep them.
"""

from __future__ import annotations

import math

from analysis.query import ROW_ID, Sql, ident

PRIME = 2_147_483_647
"""2^31 - 1: ids are reduced modulo it, so id x factor stays below 2^62 (no BIGINT overflow)."""

GOLDEN_FACTOR = 1_327_217_885
"""round(PRIME x (sqrt(5) - 1) / 2): the golden-ratio multiplier of Fibonacci hashing."""


def row_hash(row_id: str = ident(ROW_ID)) -> str:
    """The row's hash in ``[0, PRIME)``, as SQL both DuckDB and Spark evaluate to the same integer."""
    return f"(({row_id} % {PRIME}) * {GOLDEN_FACTOR} % {PRIME})"


def hash_sample(wanted: int, rows: int) -> Sql | None:
    """The condition keeping about ``wanted`` of ``rows`` rows (None when all of them fit)."""
    if rows <= wanted:
        return None
    return Sql(f"{row_hash()} < {math.ceil(PRIME * wanted / rows)}")
