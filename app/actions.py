"""Every menu action as data: id, text, shortcut, menu, tooltip.

The main window builds menus from this table and connects each id to a handler, so the
shortcuts are listed in one place (and in Help > Keyboard shortcuts).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    menu: str
    shortcut: str = ""
    tip: str = ""
    separator_before: bool = False


ACTIONS = (
    ActionSpec("open", "&Open log…", "&File", "Ctrl+O", "Open prediction log files (Parquet, CSV, JSONL, Arrow, DuckDB)"),
    ActionSpec("open_folder", "Open &folder…", "&File", "Ctrl+Shift+O", "Open every data file of a folder as one log"),
    ActionSpec("connect_spark", "Connect to &Spark…", "&File", "",
               "Pull a table from a Spark cluster (Spark Connect; a uniform sample when it is large) and open it as a log"),
    ActionSpec("open_workspace", "Open &workspace…", "&File", "Ctrl+Alt+O", "Open a .sleuth workspace"),
    ActionSpec("save_workspace_as", "&Save workspace as…", "&File", "Ctrl+S",
               "Keep what is open, with its roles, in a .sleuth file (saved on every edit)"),
    ActionSpec("close_dataset", "&Close dataset", "&File", "Ctrl+W", "Close the active dataset", separator_before=True),
    ActionSpec("quit", "&Quit", "&File", "Ctrl+Q", separator_before=True),
    ActionSpec("undo", "&Undo", "&Edit", "Ctrl+Z"),
    ActionSpec("redo", "&Redo", "&Edit", "Ctrl+Shift+Z"),
    ActionSpec("copy", "&Copy", "&Edit", "", "Copy the selected cells as tab-separated text (Ctrl+C)", separator_before=True),
    ActionSpec("find", "&Find in table…", "&Edit", "Ctrl+F", "Find a value in the table"),
    ActionSpec("cancel_jobs", "Cancel running &jobs", "&Edit", "Esc", "Stop loading or sorting"),
    ActionSpec("filter", "&Filter rows (slice)…", "&Data", "Ctrl+L", "Type a filter: the slice every panel follows"),
    ActionSpec("roles", "Column &roles…", "&Data", "Ctrl+R", "Check or change which column is the label, score, version…"),
    ActionSpec("join_labels", "&Join labels…", "&Data", "Ctrl+J",
               "Join labels that arrived later, from their own file, to the active log by request id"),
    ActionSpec("version_cards", "&Version cards…", "&Data", "Ctrl+K",
               "Name model versions (fallback, new-customers model…) and say what they serve"),
    ActionSpec("show_data", "&Data sidebar", "&View", "Ctrl+1", "Show and focus the dataset sidebar"),
    ActionSpec("show_table", "&Table", "&View", "Ctrl+2", "Focus the table"),
    ActionSpec("show_metrics", "&Metrics", "&View", "Ctrl+3", "Show and focus the metrics panel"),
    ActionSpec("show_time", "Metric over &time", "&View", "Ctrl+4", "Show and focus the time plot"),
    ActionSpec("show_breakdown", "&Breakdown", "&View", "Ctrl+5", "Show the metric per group of a column"),
    ActionSpec("show_discovery", "&Failing slices", "&View", "Ctrl+6", "Find the slices where the model fails most"),
    ActionSpec("show_compare", "&Compare versions", "&View", "Ctrl+8",
               "Is the candidate better, for whom is it worse, which rows broke?"),
    ActionSpec("show_findings", "&Findings (on call)", "&View", "Ctrl+7",
               "What changed in the inputs and outputs, where and since when"),
    ActionSpec("show_trace", "T&race a prediction", "&View", "Ctrl+9",
               "The training rows that pushed the model to the selected row's prediction"),
    ActionSpec("show_queue", "Failure &queue", "&View", "Ctrl+Shift+Q",
               "The queued failures, grouped, with their status, owner and decision"),
    ActionSpec("meeting", "&Meeting", "&View", "F11",
               "Run the weekly failure review full screen, by the keyboard"),
    ActionSpec("maximise_panel", "Ma&ximise panel", "&View", "Ctrl+Shift+M",
               "Show the focused panel alone, again to restore (or double-click its tab)", separator_before=True),
    ActionSpec("zoom_in", "Zoom &in", "&View", "Ctrl+=", "Larger text and plots, for a projector"),
    ActionSpec("zoom_out", "Zoom &out", "&View", "Ctrl+-", "Smaller text and plots"),
    ActionSpec("zoom_reset", "&Actual size", "&View", "Ctrl+0", "Text and plots at the normal size"),
    ActionSpec("reset_layout", "Reset &layout", "&View", "", "Put every panel back where it was at first start"),
    ActionSpec("shortcuts", "&Keyboard shortcuts", "&Help", "F1"),
    ActionSpec("about", "&About Sleuth", "&Help"),
)
