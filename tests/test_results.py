"""Records: atomic writes (an interrupted write leaves no partial file) and round trip."""

from __future__ import annotations

import json

import pytest

from vlpbench.core import atomic
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.records import SCHEMA_VERSION, make_record, read_record, record_path, write_record


def full_record(**fields):
    return make_record(**({"strategy": "wsc", "task": "linear-probe", "dataset": "syn-rfmid", "fraction": 1.0,
                           "seed": 0, "status": "ok", "metrics": {}} | fields))


def test_round_trip(tmp_path):
    path = record_path(tmp_path, "linear-probe", "syn-rfmid", "wsc", 3, 0.1)
    record = make_record(strategy="wsc", task="linear-probe", dataset="syn-rfmid", fraction=0.1, seed=3,
                         status="ok", metrics={"auc": 81.5})
    write_record(path, record)
    assert read_record(path) == record and record["schema_version"] == SCHEMA_VERSION
    assert path.name == "seed3_frac0.1.json"


def test_writer_refuses_an_ill_formed_record(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(VlpbenchError, match="r.json: missing field 'task'"):
        write_record(path, make_record(strategy="wsc", dataset="d", fraction=1.0, seed=0, status="ok", metrics={}))
    with pytest.raises(VlpbenchError, match="status 'done'"):
        write_record(path, make_record(strategy="wsc", task="t", dataset="d", fraction=1.0, seed=0, status="done", metrics={}))
    assert not path.exists()


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "r.json"

    def explode(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        write_record(path, full_record(metrics={}))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_record(path, full_record(metrics={"auc": 1.0}))

    def half_written(temp):
        temp.write_text('{"trunc')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(path, half_written)
    assert json.loads(path.read_text())["metrics"] == {"auc": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_unreadable_record_is_one_line_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(VlpbenchError, match="bad.json unreadable"):
        read_record(path)
