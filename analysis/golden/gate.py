"""The golden-set gate: does a candidate model get worse on any golden group?

The candidate answers every golden request; per group, its answers are paired with the
recorded (production) ones on the same requests against the correct label. A group regresses
when the candidate is significantly more often wrong where the recorded prediction was right
than the reverse: the exact McNemar test on the discordant pairs, with the p-values of all
groups adjusted by Benjamini-Yekutieli (as compare adjusts its slices), at the 5% level.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import SchemaError
from analysis.stats.comparison import CONFIDENCE
from analysis.stats.multiple_testing import adjust_p_values
from analysis.stats.significance import mcnemar_exact
from analysis.trace.model_files import LoadedModel

ALPHA = round(1.0 - CONFIDENCE, 12)
"""The level a golden group's adjusted p-value must be under to count as a regression."""


def golden_gate(requests: pd.DataFrame, model: LoadedModel) -> dict[str, Any]:
    """Score ``model`` on the golden ``requests`` and judge it per golden group."""
    if requests.empty:
        raise SchemaError("the golden set is empty: add requests with `sleuth golden add` first")
    frame = model_inputs(requests, model)
    try:
        predicted = model.estimator.predict(frame)
    except Exception as error:  # noqa: BLE001 - a model that cannot read the inputs is bad input
        raise SchemaError(f"the model cannot score the golden requests ({type(error).__name__}: {error})",
                          file=str(model.path) if model.path else None) from error
    correct = np.array([class_text_of(p) == label for p, label in zip(predicted, requests["label"])])
    recorded = requests["recorded_correct"].to_numpy(dtype=bool)
    groups = []
    for group, at in requests.groupby("golden_group", sort=False).indices.items():
        negative = int((recorded[at] & ~correct[at]).sum())
        positive = int((~recorded[at] & correct[at]).sum())
        groups.append({"group": group, "requests": len(at),
                       "recorded_accuracy": float(recorded[at].mean()), "model_accuracy": float(correct[at].mean()),
                       "negative_flips": negative, "positive_flips": positive,
                       "p_value": mcnemar_exact(negative, positive)})
    for entry, adjusted in zip(groups, adjust_p_values([g["p_value"] for g in groups], "by")):
        entry["p_adjusted"] = float(adjusted)
        entry["regressed"] = bool(entry["negative_flips"] > entry["positive_flips"] and adjusted < ALPHA)
    return {"model": str(model.path) if model.path else None, "requests": len(requests),
            "golden_version": int(requests["golden_version"].max()), "alpha": ALPHA,
            "regressed": any(g["regressed"] for g in groups), "groups": groups}


def model_inputs(requests: pd.DataFrame, model: LoadedModel) -> pd.DataFrame:
    """The golden requests' inputs as the model's feature frame (its own column order)."""
    frame = pd.DataFrame([json.loads(text) for text in requests["inputs"]])
    if model.feature_names is None:
        return frame
    missing = [name for name in model.feature_names if name not in frame.columns]
    if missing:
        raise SchemaError("the model needs an input the golden requests do not have", column=missing[0],
                          file=str(model.path) if model.path else None)
    return frame[model.feature_names]


def class_text_of(value: Any) -> str:
    """A model's predicted class as class text, the way labels are stored (see
    :func:`analysis.metrics.outcomes.class_text`): ``'true'``, ``'1'`` for 1.0, else the text."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def gate_text(report: dict[str, Any]) -> str:
    """The gate's verdict and one line per golden group."""
    verdict = "REGRESSED" if report["regressed"] else "passed"
    lines = [f"golden set v{report['golden_version']} ({report['requests']:,} requests): {verdict}"]
    for g in report["groups"]:
        mark = "  worse" if g["regressed"] else ""
        lines.append(f"  {g['group']}: {g['requests']:,} requests, accuracy {g['recorded_accuracy']:.4f} recorded "
                     f"-> {g['model_accuracy']:.4f} model, flips -{g['negative_flips']} +{g['positive_flips']}, "
                     f"p_adj {g['p_adjusted']:.2g}{mark}")
    return "\n".join(lines)
