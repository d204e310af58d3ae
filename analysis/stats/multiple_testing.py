"""False-discovery-rate adjustment of many p-values tested together (scipy's, NaN-safe).

Benjamini-Hochberg holds the false discovery rate when the tests are independent or positively
dependent (disjoint groups of one column); Benjamini-Yekutieli holds it under any dependence,
which overlapping slices need. Undefined p-values (NaN or None: a group with no rows) are
neither tested nor counted, and stay undefined.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy import stats

FdrMethod = Literal["bh", "by"]


def adjust_p_values(p_values: Sequence[float | None] | np.ndarray, method: FdrMethod) -> np.ndarray:
    """Adjusted p-values in the input's order; NaN where the input is NaN or None."""
    p = np.asarray(p_values, dtype=float)  # None becomes NaN
    adjusted = np.full(len(p), np.nan)
    defined = ~np.isnan(p)
    if defined.any():
        adjusted[defined] = stats.false_discovery_control(p[defined], method=method)
    return adjusted
