"""The intake log says how its rows were chosen as a reader would write it, values in place."""

from analysis.query import Sql, ident
from analysis.queue.intake import _scope_text


def test_values_stand_in_place_of_placeholders():
    condition = Sql(f"{ident('device_type')} = ?", ["kiosk"]) & Sql(f"{ident('age')} >= ?", [30])
    text = _scope_text(condition)
    assert "?" not in text and "with [" not in text
    assert "\"device_type\" = 'kiosk'" in text and "\"age\" >= 30" in text


def test_no_condition_reads_all_rows():
    assert _scope_text(None) == "all rows"
