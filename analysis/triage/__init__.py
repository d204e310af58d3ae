"""Input checks and triage: what broke in a log, since when, for whom, ranked."""

CHECK_SHARE_ROWS = 10_000_000
"""Rows (about) the row-level parts of a check read; a larger log's are a share of its requests
(:mod:`analysis.triage.share`). 10M rows keep the checks of a 100M-row log near a minute on two
cores (those of a 10M-row log take about 13 s) and leave a cell of a day and a group thousands
of rows. Here, not in the share module, so the CLI shows it without importing the checks."""
