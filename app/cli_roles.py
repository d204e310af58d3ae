"""Role overrides on the command line: ``--label COL``, ``--id COL``, ... on every command that
reads a log or a training snapshot (the user's word on a column's role beats detection)."""

from __future__ import annotations

import argparse
from typing import Sequence

LOG_ROLE_FLAGS = ("label", "id", "time", "version_column", "score", "prediction")
"""The role overrides of a command that reads a prediction log."""
SNAPSHOT_ROLE_FLAGS = ("label", "id")
"""The role overrides of a command that reads only a training snapshot."""
ROLE_OF_FLAG = {"label": "label", "id": "id", "time": "timestamp", "version_column": "model_version",
                "score": "score", "prediction": "prediction"}
ROLE_HELP = {
    "label": "the label (ground truth) column, whatever Sleuth detected",
    "id": "the request id column",
    "time": "the timestamp column",
    "version_column": "the column that says which model version made the prediction",
    "score": "the score column (positive-class probability)",
    "prediction": "the predicted class or value column",
}


def add_role_arguments(cmd: argparse.ArgumentParser, flags: Sequence[str], note: str | None = None) -> None:
    """``--label COL``, ``--id COL``...: the user's word on a column's role beats detection."""
    group = cmd.add_argument_group("column roles", note or "name a column for a role when detection gets it wrong")
    for flag in flags:
        group.add_argument("--" + flag.replace("_", "-"), metavar="COL", dest=f"role_{flag}", help=ROLE_HELP[flag])


def named_roles(args: argparse.Namespace, flags: Sequence[str] = LOG_ROLE_FLAGS) -> dict:
    """The roles the user named on the command line, as ``{Role: column}``."""
    from analysis.data.roles import Role

    return {Role(ROLE_OF_FLAG[f]): getattr(args, f"role_{f}") for f in flags
            if getattr(args, f"role_{f}", None) is not None}
