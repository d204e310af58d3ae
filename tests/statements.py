"""The one record of the SQL a store runs, for tests that assert which statements read the log,
how many, and how many rows came back (the tests' own copies of it drifted apart: one read
``rows`` only, another missed ``numpy_chunks``)."""

import threading

import pandas as pd

RUNS = ("execute", "rows", "df", "numpy", "numpy_chunks")
"""Every way a statement reaches the store's connection (``scalar`` goes through ``rows``)."""


class Statements(list):
    """The text of every statement recorded, in the order they ran; ``returned`` holds at the
    same index how many rows each brought back (None for ``execute``, ``numpy`` and chunks)."""

    def __init__(self) -> None:
        super().__init__()
        self.returned: list[int | None] = []
        self.lock = threading.Lock()  # a window's workers record too

    def clear(self) -> None:
        super().clear()
        self.returned.clear()


def recorded_statements(store, monkeypatch=None, methods=("execute", "rows", "df", "numpy")) -> Statements:
    """Every statement ``store`` runs through ``methods`` from now on, appended to the returned list.

    ``store`` is one store (its methods wrapped on the instance, so other stores are untouched)
    or the ``Store`` class (every store, those a window makes on its workers included). With
    ``monkeypatch`` the wrapping ends with the test, which a class, or a store shared between
    tests, needs."""
    seen = Statements()
    on_class = isinstance(store, type)
    for name in methods:
        method = getattr(store, name)

        def recorded(*args, _method=method, **kwargs):
            query = args[1] if on_class else args[0]  # a class's method gets the store first
            with seen.lock:
                seen.append(getattr(query, "text", query))
                seen.returned.append(None)
                at = len(seen.returned) - 1
            result = _method(*args, **kwargs)
            if isinstance(result, (list, pd.DataFrame)):
                seen.returned[at] = len(result)
            return result

        (monkeypatch.setattr if monkeypatch is not None else setattr)(store, name, recorded)
    return seen
