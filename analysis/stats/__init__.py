"""Sleuth's statistics, each method once: :mod:`.intervals` (Wilson, t, Newcombe),
:mod:`.significance` (pooled z, exact McNemar, DeLong), :mod:`.multiple_testing` (BH, BY) and
:mod:`.comparison`, which combines them into the tests of a two-version comparison."""
