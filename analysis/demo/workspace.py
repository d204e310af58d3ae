"""``sleuth demo``: the demo files plus a workspace that opens them with the right roles."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.demo.generate import LOG_FILE, MANIFEST_FILE, TRAINING_FILE, generate_demo
from analysis.data.open_log import load_log
from analysis.progress import NEVER_CANCELLED, CancelToken, Progress, no_progress, scaled
from analysis.store import Store
from analysis.workspace.version_cards import VersionCard
from analysis.workspace.workspace_file import DatasetEntry, Workspace

WORKSPACE_FILE = "demo.sleuth"


def ensure_demo_workspace(
    out: str | Path,
    rows: int = 200_000,
    seed: int = 7,
    incidents: bool = True,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Path:
    """Generate the demo into ``out`` unless the same demo is already there; return the workspace.

    The workspace is written anew each time, so a demo folder whose workspace was edited
    (or damaged) starts clean.
    """
    out = Path(out)
    if not _is_same_demo(out, rows, seed, incidents):
        generate_demo(out, rows=rows, seed=seed, incidents=incidents, progress=scaled(progress, 0.0, 0.9),
                      cancel=cancel)
    progress(0.92, "Writing the demo workspace")
    path = out / WORKSPACE_FILE
    for stale in (path, path.with_suffix(".sleuth.wal")):
        stale.unlink(missing_ok=True)
    store = Store(memory_limit="2GB")
    workspace = Workspace.open(path)
    try:
        for name, filename, kind in (("predictions", LOG_FILE, "log"), ("training", TRAINING_FILE, "training")):
            loaded = load_log(store, [str(out / filename)], name=name, check=False, cancel=cancel)
            workspace.save_dataset(DatasetEntry(name, loaded.dataset.paths, loaded.dataset.format,
                                                loaded.roles, kind))
        for card in demo_version_cards(out):
            workspace.save_version_card(card)
        workspace.set_meta("demo", {"rows": rows, "seed": seed, "incidents": incidents})
    finally:
        workspace.close()
        store.close()
    progress(1.0, "Demo ready")
    return path


def demo_version_cards(out: Path) -> list[VersionCard]:
    """Cards for the demo's two versions, named the way the team would talk about them."""
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    names = {"logistic_regression": "incumbent (logistic)", "hist_gradient_boosting": "challenger (boosted trees)"}
    cards = []
    for v in manifest.get("versions", []):
        model_file = str(out / v["model_file"]) if v.get("model_file") else ""
        cards.append(VersionCard(version=v["version"], name=names.get(v.get("kind", ""), ""),
                                 description=v.get("description", ""), training_snapshot=str(out / TRAINING_FILE),
                                 model_file=model_file))
    return cards


def _is_same_demo(out: Path, rows: int, seed: int, incidents: bool) -> bool:
    manifest = out / MANIFEST_FILE
    if not (manifest.exists() and (out / LOG_FILE).exists() and (out / TRAINING_FILE).exists()):
        return False
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("rows") == rows and data.get("seed") == seed and bool(data.get("incidents")) == incidents
