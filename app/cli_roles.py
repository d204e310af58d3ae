"""Role overrides on the command line: ``--label COL``, ``--id COL``, ... on every command that
reads a log or a training snapshot (the user's word on a column's role beats detection)."""

from __future__ import annotations

import argparse
import sys
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


def cards_model_columns(cards: dict):
    """What the model files of a workspace's version ``cards`` say about a log's label (see
    :mod:`app.workspace_models`), for a command given a workspace; the files left out are
    named on stderr."""
    from app.workspace_models import workspace_model_columns

    columns, left_out = workspace_model_columns(cards)
    for sentence in left_out:
        sys.stderr.write(f"sleuth: {sentence}\n")
    return columns


def say_label_note(note: str | None) -> None:
    """How a model file decided the label, on stderr so that --json output stays one document."""
    if note:
        sys.stderr.write(f"sleuth: {note}\n")
