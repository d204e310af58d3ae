"""Fifty broken and odd workspace files, made from a real one: what a disk, a crash, another
tool or a careless hand does to a ``*.sleuth`` file. Each must give one sentence, never a
traceback (the issue's 27 of 50 raised).
"""

from __future__ import annotations

import functools
import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Callable

import duckdb

from analysis.data.roles import RoleMap
from analysis.slices import Compare, Slice
from analysis.workspace.schema import TABLES
from analysis.workspace.workspace_file import DatasetEntry, Workspace

FIRST_DATA_BLOCK_END = 12288 + 262144  # three 4 KiB headers, then one checksummed 256 KiB block


def make_valid(path: Path) -> Path:
    ws = Workspace.open(path)
    ws.save_dataset(DatasetEntry("log", ("/data/x.parquet",), "parquet", RoleMap(label="y", scores=("p",))))
    ws.save_slice(Slice(Compare("age", ">", 30), "older"))
    ws.add_decision("k", {"action": "dismissed"})
    ws.save_profile("log", '{"schema_version": 1}')
    ws.set_meta("active_dataset", "log")
    ws.close()
    return path


def _edit(sql: str, *params) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        con = duckdb.connect(str(path))
        con.execute(sql, list(params))
        con.close()
    return apply


def _truncate(size: int) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:size])
    return apply


def _flip(offset: int) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0x01 << (offset % 8)
        path.write_bytes(bytes(data))
    return apply


def _replace_with(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        path.unlink()
        make(path)
    return apply


def _unkeyed(table: str, row_sql: str) -> Callable[[Path], None]:
    """Recreate ``table`` without its primary key (another tool can) and insert one odd row."""
    columns = next(t for t in TABLES if t.name == table).columns
    plain = ", ".join(f'"{c.name}" {c.type}' for c in columns)
    return _edit(f'DROP TABLE "{table}"; CREATE TABLE "{table}" ({plain}); INSERT INTO "{table}" {row_sql}')


def _sqlite(path: Path) -> None:
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()


def variants() -> dict[str, Callable[[Path], None]]:
    rng = random.Random(15)
    found: dict[str, Callable[[Path], None]] = {}
    for size in (0, 5, 11, 100, 4095, 4096, 8192, 12288, 20000, 300000):
        found[f"truncated to {size} bytes"] = _truncate(size)
    for offset in sorted(rng.sample(range(FIRST_DATA_BLOCK_END), 14)):
        found[f"bit flipped at byte {offset}"] = _flip(offset)
    for text in ("'four'", "'\"4\"'", "'4.5'", "'null'", "'99'", "'-1'", "'true'", "NULL"):
        found[f"schema_version = {text}"] = _edit(f"UPDATE meta SET value = {text} WHERE key = 'schema_version'")
    found["unparseable JSON in dataset paths"] = _edit("UPDATE datasets SET paths = '[\"/x.parquet\"'")
    found["unparseable JSON in dataset roles"] = _edit("UPDATE datasets SET roles = '{label: y}'")
    found["unparseable JSON in meta"] = _edit("UPDATE meta SET value = '{' WHERE key = 'active_dataset'")
    found["unparseable JSON in a decision"] = _edit("UPDATE decisions SET document = 'dismissed'")
    found["unparseable JSON in a profile"] = _edit("UPDATE profiles SET document = '{\"schema_version\": }'")
    found["NULL dataset paths"] = _edit("UPDATE datasets SET paths = NULL")
    found["NULL dataset format"] = _edit("UPDATE datasets SET format = NULL")
    found["NULL dataset name"] = _unkeyed("datasets", "VALUES (NULL, 0, '[\"/x\"]', 'csv', 'log', NULL, NULL)")
    found["NULL meta key"] = _unkeyed("meta", "VALUES (NULL, '1')")
    found["NULL decision key"] = _edit("UPDATE decisions SET check_key = NULL")
    found["the same dataset twice"] = _unkeyed(
        "datasets", "VALUES ('a', 0, '[\"/x\"]', 'csv', 'log', NULL, NULL), ('a', 1, '[\"/y\"]', 'csv', 'log', NULL, NULL)")
    for table in ("meta", "datasets", "slices", "version_cards", "decisions", "profiles"):
        found[f"table {table} missing"] = _edit(f'DROP TABLE "{table}"')
    found["dataset position is text"] = _edit(
        "ALTER TABLE datasets ALTER position SET DATA TYPE VARCHAR")
    found["dataset paths column missing"] = _edit("ALTER TABLE datasets DROP COLUMN paths")
    found["a directory named x.sleuth"] = _replace_with(lambda p: p.mkdir())
    found["a text file"] = _replace_with(lambda p: p.write_text("not a database"))
    found["a SQLite database"] = _replace_with(_sqlite)
    found["another DuckDB database"] = _replace_with(_edit("CREATE TABLE sales (x INT)"))
    return found


def make_variant(name: str, folder: Path) -> Path:
    """The broken workspace called ``name``, written into ``folder``."""
    path = folder / "x.sleuth"
    path.write_bytes(_valid_workspace())
    variants()[name](path)
    return path


@functools.cache
def _valid_workspace() -> bytes:
    """The bytes of :func:`make_valid`'s file, made once per process: every variant breaks a
    copy of it, where creating a workspace's tables anew for each of the fifty-five cost a
    tenth of a CPU-second."""
    with tempfile.TemporaryDirectory() as folder:
        return make_valid(Path(folder) / "x.sleuth").read_bytes()

