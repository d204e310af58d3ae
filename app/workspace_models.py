"""The model files a workspace knows, as what they say about a log's label.

A version card names the model file its version serves (set in Data > Version cards, or by
"Choose model…" in the trace panel). A log opened next to those cards was most likely scored
by one of them, so the window and every command given a workspace read its label from them as
``--model FILE`` does (:mod:`analysis.data.model_label`) when no column name says it.

Qt-free, so the window's worker and the CLI share it. A card's model that needs trust is used
only when the person trusted that file in this session (a card never grants trust); a file that
is missing, unreadable or names none of its inputs is left out with a sentence saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from analysis.data.model_label import ModelColumns, merged_model_columns
from analysis.errors import SleuthError
from analysis.workspace.version_cards import VersionCard


def workspace_model_columns(
    cards: Mapping[str, VersionCard] | Iterable[VersionCard], trusted: frozenset[str] = frozenset(),
) -> tuple[ModelColumns | None, tuple[str, ...]]:
    """What the model files of ``cards`` say about a log's columns, merged (see
    :func:`merged_model_columns`), and one sentence per model file left out."""
    from analysis.trace.model_files import ModelTrustError, load_model
    from analysis.trace.snapshot_label import model_columns

    listed = cards.values() if isinstance(cards, Mapping) else cards
    files = sorted({card.model_file for card in listed if card.model_file.strip()})
    found, left_out = [], []
    for path in files:
        try:
            columns = model_columns(load_model(path, trust=path in trusted))
        except ModelTrustError:
            left_out.append(f"the version cards' model {Path(path).name} is not read for the label: it needs trust "
                            "(trust it in the trace panel, or pass --model FILE --trust)")
            continue
        except SleuthError as error:
            left_out.append(f"the version cards' model {Path(path).name} is not read for the label: {error}")
            continue
        if columns is None:
            left_out.append(f"the version cards' model {Path(path).name} names none of the columns it reads, so it "
                            "cannot tell the label")
            continue
        found.append(columns)
    return merged_model_columns(found), tuple(left_out)


def load_log_reading_cards(store, specs, saved_rules, cards: Mapping[str, VersionCard], trusted: frozenset[str],
                           **options):
    """The window's open-a-log job: :func:`analysis.rules.derived.load_log_with_rules` with the
    label read from the workspace's model files when no column name says it. The files left out
    are named in the load report when the log ends up with no label, where they mattered."""
    from dataclasses import replace

    from analysis.dataset import LoadReport
    from analysis.rules.derived import load_log_with_rules

    model, left_out = workspace_model_columns(cards, trusted)
    loaded = load_log_with_rules(store, specs, saved_rules, model=model, **options)
    if loaded.roles.label is not None or not left_out:
        return loaded
    report = loaded.dataset.report
    dataset = replace(loaded.dataset, report=LoadReport(report.skipped, report.warnings + left_out))
    return replace(loaded, dataset=dataset)


def label_from_cards(scope, cards: Mapping[str, VersionCard], trusted: frozenset[str], cancel=None):
    """For a log open with no label when a card's model file becomes known: its roles with the
    label that model tells, and the sentence saying so; None when no card's model tells one."""
    from analysis.data.open_log import with_model_label
    from analysis.progress import NEVER_CANCELLED

    model, _ = workspace_model_columns(cards, trusted)
    return None if model is None else with_model_label(scope, model, cancel or NEVER_CANCELLED)
