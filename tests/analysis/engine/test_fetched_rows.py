"""Rows fetched from an engine into a pulled log's view: typed as the view is (an instant Spark
hands back without its zone stays the same instant, whatever this machine's zone), numbered after
the pulled rows, and seen by the views built on the pulled one."""

import pandas as pd

from analysis.data.loading import open_dataset
from analysis.engine.fetched_rows import append_rows, fetch_engine_row
from analysis.query import ROW_ID, ident
from analysis.store import Store


def test_fetched_rows_join_the_pulled_view_typed_and_numbered_after_it(tmp_path):
    whole = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(6)],
        "amount": [1.5, None, 3.0, 4.25, 5.0, 6.5],
        "count": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
        "at": pd.date_range("2026-10-01 22:30", periods=6, freq="h", tz="UTC"),
    })
    engine, local = Store(threads=1), Store(threads=1)
    whole.to_parquet(tmp_path / "whole.parquet")
    whole.iloc[[0, 3]].to_parquet(tmp_path / "pulled.parquet")
    on_engine = open_dataset(engine, [str(tmp_path / "whole.parquet")])
    pulled = open_dataset(local, [str(tmp_path / "pulled.parquet")])
    local.execute("SET GLOBAL TimeZone = 'America/New_York'")  # a zone where naive != UTC
    local.execute(f"CREATE VIEW later AS SELECT request_id, {ident(ROW_ID)} FROM {ident(pulled.view)}")
    try:
        fetched = fetch_engine_row(engine, on_engine, 2)
        assert fetched["request_id"].tolist() == ["r2"]
        fetched["at"] = fetched["at"].dt.tz_convert("UTC").dt.tz_localize(None)  # as Spark's arrive: UTC, no zone
        assert append_rows(local, pulled, fetched, pulled.row_count) == [2]
        assert append_rows(local, pulled, fetch_engine_row(engine, on_engine, 5), 3) == [3]

        view = ident(pulled.view)
        types = dict(local.rows(f"SELECT column_name, column_type FROM (DESCRIBE {view})"))
        assert types["at"] == "TIMESTAMP WITH TIME ZONE" and types["count"] == "BIGINT"
        got = local.df(f"SELECT request_id, amount, \"count\", epoch_us(\"at\") AS at_us, {ident(ROW_ID)} FROM {view} "
                       f"ORDER BY {ident(ROW_ID)}")
        want = whole.iloc[[0, 3, 2, 5]].reset_index(drop=True)
        assert got[ROW_ID].tolist() == [0, 1, 2, 3]
        assert got["request_id"].tolist() == want["request_id"].tolist()
        assert got["amount"].tolist() == want["amount"].tolist()
        assert got["count"].astype("Int64").tolist() == want["count"].tolist()
        assert pd.to_datetime(got["at_us"], unit="us", utc=True).tolist() == want["at"].tolist()  # the same instants
        assert local.rows(f"SELECT request_id FROM later WHERE {ident(ROW_ID)} = 3") == [("r5",)]
    finally:
        engine.close()
        local.close()
