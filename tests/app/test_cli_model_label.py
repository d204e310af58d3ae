"""``check --model`` and ``compare --model`` on a log whose label no name says."""

from __future__ import annotations

import skops.io
from sklearn.linear_model import LogisticRegression

from app.cli import main
from tests.analysis.data.test_model_label import churn_log


def test_check_names_the_label_the_model_file_points_to(tmp_path, capsys):
    frame, model = churn_log()
    frame.to_parquet(tmp_path / "log.parquet")
    skops.io.dump(model, tmp_path / "churn.skops")
    assert main(["check", str(tmp_path / "log.parquet"), "--model", str(tmp_path / "churn.skops"), "--json"]) == 0
    out = capsys.readouterr()
    assert "sleuth: label 'churned' inferred from the model file" in out.err and out.out.lstrip().startswith("{")


def test_a_model_that_names_no_column_is_refused_in_one_sentence(tmp_path, capsys):
    frame, _ = churn_log()
    frame.to_parquet(tmp_path / "log.parquet")
    bare = LogisticRegression().fit(frame[["tenure", "y"]].to_numpy(), frame["churned"])
    skops.io.dump(bare, tmp_path / "bare.skops")
    code = main(["compare", str(tmp_path / "log.parquet"), "--base", "a", "--candidate", "b",
                 "--model", str(tmp_path / "bare.skops")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "names none of the columns it reads" in err and "bare.skops" in err
