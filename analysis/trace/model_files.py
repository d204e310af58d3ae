"""Models a training snapshot was used for: opening model files safely, and surrogates.

Opening a model file is where untrusted content could run code. A skops file describes the
objects it holds, so :func:`inspect_model` asks skops which types in it skops does not trust by
itself (``skops.io.get_untrusted_types``) and checks them against :data:`ALLOWED_TYPES`, Sleuth's
own reviewed list of scikit-learn internals and numpy types. Only when every reported type is on
that list does the file open without asking. Anything else, and every pickle or joblib file
(unpickling runs whatever code the file names), opens only with ``trust=True``: the user's
explicit "I trust this file" (a dialog in the window, ``--trust`` on the CLI). A list of trusted
types shipped inside the model's own metadata is never used. XGBoost's own model format
(``.json`` / ``.ubj``) is parsed by XGBoost as data, trees and parameters only, so it opens
without asking too.

Without a model, :func:`fit_surrogate` fits one of the right kind on the snapshot; every
result computed from it is labelled as coming from a surrogate.
"""

from __future__ import annotations

import io
import json
import pickletools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.dataset import Column
from analysis.errors import InputError, SchemaError, SleuthError
from analysis.data.roles import TaskType

ALLOWED_TYPES = frozenset({
    # Tree internals: plain arrays of split features, thresholds and leaf values.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # Neighbour indexes and their distance metrics (KNeighbors*, used by some pipelines).
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    # Loss objects boosting models keep.
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    # HistGradientBoosting with categorical features stores partial(check_array, ...). skops
    # reports the wrapped function separately, so a partial of anything else is still caught.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # numpy values.
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "numpy.bool_",
    "numpy.random.mtrand.RandomState",
})
"""Types that open without asking, beyond those skops trusts itself. Reviewed: each holds
data only (arrays, numbers, tree nodes) or is a scikit-learn function that only validates
arrays; nothing here can run a command, open a file or evaluate text."""

SKOPS, PICKLE, JOBLIB, XGBOOST_FORMAT = "skops", "pickle", "joblib", "xgboost"
XGBOOST_SUFFIXES = (".json", ".ubj")
XGBOOST_OBJECTIVES = ("binary:logistic", "reg:squarederror")
"""XGBoost objectives whose loss derivatives BoostIn replays (see :mod:`analysis.trace.influence_trees`)."""
LINEAR, BOOSTING, FOREST, LIGHTGBM, XGBOOST, OTHER = (
    "linear", "boosting", "forest", "lightgbm", "xgboost", "other",
)


class ModelTrustError(SleuthError):
    """A model file that may run code when opened, and the user has not trusted it."""

    def __init__(self, types: Sequence[str], *, file: str | None = None) -> None:
        self.types = list(types)
        listed = ", ".join(self.types) if self.types else "unknown (a pickle names them only as it runs)"
        super().__init__(
            "this model file needs your explicit trust before it is opened: loading it can run "
            f"code (unpickling runs code). Types it uses that Sleuth does not allow: {listed}",
            file=file,
        )


@dataclass(frozen=True)
class ModelFile:
    """What a model file is, before anything in it is loaded."""

    path: Path
    format: str
    untrusted_types: list[str]
    needs_trust: bool
    data: bytes = field(default=b"", repr=False)  # the bytes checked: the only bytes ever loaded
    skops_types: tuple[str, ...] = ()  # every type skops reported untrusted in ``data``: what a load passes on


@dataclass(frozen=True)
class LoadedModel:
    """A fitted scikit-learn-style model and what Sleuth needs to know about it.

    ``kind`` picks the influence method (see :mod:`analysis.trace.influence`); ``surrogate`` is true
    when Sleuth fitted the model itself because the user gave none.
    """

    estimator: Any
    path: Path | None
    feature_names: list[str] | None
    task: TaskType
    kind: str
    surrogate: bool = False


def inspect_model(path: str | Path) -> ModelFile:
    """The format of a model file, the types in it Sleuth does not allow, whether to ask.

    The file is read once, here: the check and the load see the same bytes, so a file swapped
    on disk after the check (a time-of-check/time-of-use race) is never what gets loaded.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise InputError("model file not found", file=str(path)) from error
    except OSError as error:
        raise InputError(f"cannot read the model file ({error.strerror or error})", file=str(path)) from error
    file_format = _format_of(path, data)
    if file_format == SKOPS:
        import skops.io

        try:
            reported = skops.io.get_untrusted_types(data=data)
        except Exception as error:
            raise InputError(f"not a readable skops model file ({error})", file=str(path)) from error
        untrusted = sorted(t for t in reported if t not in ALLOWED_TYPES)
        return ModelFile(path, SKOPS, untrusted, needs_trust=bool(untrusted), data=data, skops_types=tuple(reported))
    if file_format == XGBOOST_FORMAT:
        return ModelFile(path, XGBOOST_FORMAT, [], needs_trust=False, data=data)
    names = _pickle_globals(data) if file_format == PICKLE else []
    return ModelFile(path, file_format, names, needs_trust=True, data=data)


def load_model(path: str | Path, trust: bool = False) -> LoadedModel:
    """Open a model file, refusing with :class:`ModelTrustError` when it needs trust.

    ``trust=True`` is the user's explicit trust in this one file; it lets a skops file load
    the types it reported and a pickle/joblib file be unpickled.
    """
    info = inspect_model(path)
    if info.needs_trust and not trust:
        raise ModelTrustError(info.untrusted_types, file=str(info.path))
    try:
        estimator = _read(info)
    except SleuthError:
        raise
    except Exception as error:
        raise InputError(f"the model could not be opened ({type(error).__name__}: {error})",
                         file=str(info.path)) from error
    return describe_model(estimator, path=info.path)


def describe_model(estimator: Any, *, path: Path | None = None, surrogate: bool = False) -> LoadedModel:
    """Wrap a fitted estimator: its task, feature names and the kind that picks the method."""
    final = final_estimator(estimator)
    if not hasattr(estimator, "predict"):
        raise InputError(f"the file holds a {type(estimator).__name__}, not a fitted model",
                         file=str(path) if path else None)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None and is_xgboost_booster(estimator):
        names = estimator.feature_names
    return LoadedModel(
        estimator=estimator,
        path=path,
        feature_names=[str(n) for n in names] if names is not None else None,
        task=_task_of(final),
        kind=model_kind(final),
        surrogate=surrogate,
    )


def final_estimator(estimator: Any) -> Any:
    """The last step of a Pipeline (the model itself), or the estimator."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def preprocess(estimator: Any, frame: pd.DataFrame) -> Any:
    """The rows as the final model sees them: run through every step of a Pipeline but the last."""
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) == 1:
        return frame
    return estimator[:-1].transform(frame)


def dense_features(estimator: Any, frame: pd.DataFrame) -> np.ndarray:
    """:func:`preprocess` as a dense float matrix (sparse one-hot outputs are densified)."""
    features = preprocess(estimator, frame)
    if hasattr(features, "toarray"):
        features = features.toarray()
    if isinstance(features, pd.DataFrame):
        features = features.to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(features, dtype=float)


def model_kind(final: Any) -> str:
    """Which influence method a model's final estimator supports (see :mod:`analysis.trace.influence`)."""
    name = type(final).__name__
    module = type(final).__module__
    if module.startswith("lightgbm"):
        return LIGHTGBM
    if module.startswith("xgboost"):
        booster = xgboost_booster(final)
        supported = _xgboost_objective(booster) in XGBOOST_OBJECTIVES and _plain_tree_boosting(booster)
        return XGBOOST if supported else OTHER
    if name in ("LogisticRegression", "Ridge", "LinearRegression"):
        return LINEAR
    if name == "SGDClassifier" and getattr(final, "loss", None) == "log_loss" and _classes(final) == 2:
        return LINEAR
    if name in ("GradientBoostingClassifier", "GradientBoostingRegressor",
                "HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        return BOOSTING if getattr(final, "loss", None) in ("log_loss", "squared_error") else OTHER
    if name in ("RandomForestClassifier", "RandomForestRegressor",
                "ExtraTreesClassifier", "ExtraTreesRegressor"):
        return FOREST
    return OTHER


def fit_surrogate(training_frame: pd.DataFrame, feature_columns: Sequence[str],
                  label_column: str, task: TaskType) -> LoadedModel:
    """Fit a stand-in model on the snapshot when the user has no model file.

    A HistGradientBoosting model: it takes numbers, categories and missing values as they
    come (text and categorical columns become ordinal codes it splits on natively), needs no
    tuning to be reasonable, fits 100k rows in seconds, and has an exact leaf-based influence
    (BoostIn). Early stopping is off so every snapshot row is used in every tree, as the
    influence method assumes.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from threadpoolctl import threadpool_limits

    features = list(feature_columns)
    missing = [c for c in [*features, label_column] if c not in training_frame.columns]
    if missing:
        raise SchemaError(f"the training snapshot has no column(s) {', '.join(missing)}")
    frame = training_frame[features]
    categorical = [c for c in features if not _is_number_like(frame[c])]
    numeric = [c for c in features if c not in categorical]
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                           encoded_missing_value=np.nan)
    columns = ColumnTransformer([("categorical", codes, categorical), ("numeric", "passthrough", numeric)])
    settings = dict(max_iter=100, early_stopping=False, random_state=0,
                    categorical_features=[True] * len(categorical) + [False] * len(numeric))
    model = (HistGradientBoostingRegressor(**settings) if task is TaskType.REGRESSION
             else HistGradientBoostingClassifier(**settings))
    labels = training_frame[label_column]
    if labels.isna().any():
        raise SchemaError("the label has missing values; a surrogate needs every label",
                          column=label_column)
    pipeline = Pipeline([("features", columns), ("model", model)])
    # OpenMP's spinning worker threads make a fit many times slower on a busy machine.
    with threadpool_limits(limits=1):
        pipeline.fit(frame, labels.to_numpy())
    return describe_model(pipeline, surrogate=True)


def match_features(model: LoadedModel, snapshot_columns: Sequence[Column],
                   log_columns: Sequence[Column]) -> list[str]:
    """The model's feature columns, checked to exist with a compatible type in both tables.

    Matching is by name. A model that was fitted without column names takes the columns the
    snapshot and the log share, in snapshot order, when their number is what the model expects.
    """
    snapshot = {c.name: c for c in snapshot_columns}
    log = {c.name: c for c in log_columns}
    if model.feature_names is not None:
        wanted = list(model.feature_names)
    else:
        wanted = [name for name in snapshot if name in log]
        expected = getattr(model.estimator, "n_features_in_", None)
        if expected is not None and expected != len(wanted):
            raise SchemaError(
                f"the model was fitted without column names and expects {expected} features, "
                f"but the snapshot and the log share {len(wanted)} columns; "
                "save the model with its column names (fit it on a pandas frame)"
            )
    for table, columns in (("training snapshot", snapshot), ("prediction log", log)):
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise SchemaError(f"the {table} lacks the model's feature column(s) {', '.join(missing)}")
    for name in wanted:
        left, right = snapshot[name], log[name]
        if _type_family(left) != _type_family(right):
            raise SchemaError(
                f"is {left.dtype} in the training snapshot but {right.dtype} in the prediction log",
                column=name,
            )
    return wanted


def _type_family(column: Column) -> str:
    """Types that mean the same to a model: all numbers alike, all times alike, text, bool."""
    if column.is_numeric:
        return "number"
    if column.is_temporal:
        return "time"
    if column.dtype.upper() == "BOOLEAN":
        return "boolean"
    return "text"


def _is_number_like(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def is_xgboost_booster(estimator: Any) -> bool:
    """A raw ``xgboost.Booster`` (not one of its scikit-learn wrappers)."""
    return type(estimator).__module__.startswith("xgboost") and type(estimator).__name__ == "Booster"


def xgboost_booster(final: Any) -> Any:
    """The Booster behind an XGBoost model: the model itself, or its wrapper's booster."""
    return final if is_xgboost_booster(final) else final.get_booster()


def xgboost_config(booster: Any) -> dict:
    """The booster's training configuration (objective, learning rate, L2 term), as XGBoost saves it."""
    return json.loads(booster.save_config())


def _xgboost_objective(booster: Any) -> str:
    return str(xgboost_config(booster)["learner"]["objective"]["name"])


def _plain_tree_boosting(booster: Any) -> bool:
    """Trees (not ``gblinear``, not ``dart``'s dropped trees), one per round and output (not a
    boosted random forest, ``num_parallel_tree`` > 1): what BoostIn replays."""
    gradient_booster = xgboost_config(booster)["learner"]["gradient_booster"]
    parameters = gradient_booster.get("gbtree_model_param", {})
    return gradient_booster.get("name") == "gbtree" and int(parameters.get("num_parallel_tree", 1)) == 1


def _task_of(final: Any) -> TaskType:
    if is_xgboost_booster(final):
        return TaskType.BINARY if _xgboost_objective(final).startswith("binary:") else TaskType.REGRESSION
    count = _classes(final)
    if count is None:
        return TaskType.REGRESSION
    return TaskType.BINARY if count == 2 else TaskType.MULTICLASS


def _classes(final: Any) -> int | None:
    classes = getattr(final, "classes_", None)
    return None if classes is None else len(classes)


def _format_of(path: Path, data: bytes) -> str:
    """skops files are zip archives; ``.json``/``.ubj`` are XGBoost's format; ``.joblib`` files
    are joblib; anything else a pickle."""
    if data[:4] == b"PK\x03\x04":
        return SKOPS
    if path.suffix.lower() in XGBOOST_SUFFIXES:
        return XGBOOST_FORMAT
    if path.suffix.lower() == ".joblib":
        return JOBLIB
    return PICKLE


def _pickle_globals(data: bytes) -> list[str]:
    """The module.name globals a pickle would import, read from its opcodes without running it.

    Best effort, for the trust dialog: protocol 4+ pickles name a global by two strings pushed
    (or fetched from the memo) just before ``STACK_GLOBAL``. A file that does not parse lists
    what was read so far (and needs trust all the same).
    """
    names: set[str] = set()
    strings: list[str | None] = []
    memo: dict[int, str | None] = {}
    try:
        for opcode, arg, _ in pickletools.genops(data):
                top = strings[-1] if strings else None
                if opcode.name in ("GLOBAL", "INST"):
                    names.add(str(arg).replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2 and None not in strings[-2:]:
                    names.add(f"{strings[-2]}.{strings[-1]}")
                if "UNICODE" in opcode.name:
                    strings.append(str(arg))
                elif opcode.name == "MEMOIZE":
                    memo[len(memo)] = top
                elif opcode.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[int(arg)] = top
                elif opcode.name in ("BINGET", "LONG_BINGET", "GET"):
                    strings.append(memo.get(int(arg)))
                else:
                    strings.append(None)
    except Exception:
        pass
    return sorted(names)


def _read(info: ModelFile) -> Any:
    """Load ``info.data``, the bytes :func:`inspect_model` checked (never the file again)."""
    if info.format == SKOPS:
        import skops.io

        return skops.io.loads(info.data, trusted=list(info.skops_types))  # as checked: the same bytes
    if info.format == XGBOOST_FORMAT:
        return _read_xgboost(info.path, info.data)
    if info.format == JOBLIB:
        import joblib

        return joblib.load(io.BytesIO(info.data))
    import pickle

    return pickle.loads(info.data)


def _read_xgboost(path: Path, data: bytes) -> Any:
    """An XGBoost model file as the scikit-learn wrapper its objective calls for.

    The wrapper gives the rest of Sleuth ``classes_``, ``predict_proba`` and refitting (suspect
    labels refit the model family); a file saved from a raw Booster loads into it as well. An
    objective without a wrapper stays a raw Booster.
    """
    try:
        import xgboost
    except ImportError as error:
        raise InputError("this is an XGBoost model file, and XGBoost is not installed "
                         "(pip install 'sleuth[boosters]')", file=str(path)) from error
    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    objective = _xgboost_objective(booster)
    if objective.startswith(("binary:", "multi:")):
        model = xgboost.XGBClassifier()
    elif objective.startswith("reg:"):
        model = xgboost.XGBRegressor()
    else:
        return booster
    model.load_model(bytearray(data))
    return model
