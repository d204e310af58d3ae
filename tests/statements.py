"""A record of the SQL a store runs, for tests that assert how many statements read the log."""


def recorded_statements(store) -> list[str]:
    """Every statement ``store`` runs from now on, appended to the returned list (its methods
    wrapped on the instance, so other stores are untouched)."""
    seen: list[str] = []
    for name in ("execute", "rows", "df", "numpy"):
        method = getattr(store, name)

        def recorded(query, *args, _method=method, **kwargs):
            seen.append(getattr(query, "text", query))
            return _method(query, *args, **kwargs)

        setattr(store, name, recorded)
    return seen
