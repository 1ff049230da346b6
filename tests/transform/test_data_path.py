"""The batch-transform data path: splitting, batching, JSONPath filters, joins, assembly, ordering."""

from __future__ import annotations

import json
import threading
import time

import pytest

from shipyard.errors import ValidationError
from shipyard.io.recordio import frame, split_records as split_frames
from shipyard.objectstore.local import LocalObjectStore
from shipyard.transform.dataprocessing import DataProcessing
from shipyard.transform.engine import TransformFailure, TransformSpec, run_transform
from shipyard.transform.jsonpath import select
from shipyard.transform.split import batches, split_lines, split_records


def test_split_lines_across_chunk_boundaries():
    chunks = [b"1,2\n3,", b"4\n\n5,6", b"\r\n7,8"]
    assert list(split_lines(chunks)) == [b"1,2", b"3,4", b"5,6", b"7,8"]


def test_split_recordio_stream():
    data = b"".join(frame(p) for p in [b"a", b"bcdef", b""])
    chunks = [data[i:i + 3] for i in range(0, len(data), 3)]
    assert list(split_records(chunks, "RecordIO")) == [b"a", b"bcdef", b""]


def test_multi_record_batches_respect_payload_and_single_record():
    recs = [b"x" * 10] * 10
    groups = list(batches(recs, "MultiRecord", 33, "Line"))
    assert [len(g) for _, g in groups] == [3, 3, 3, 1]
    assert [first for first, _ in groups] == [0, 3, 6, 9]
    assert [len(g) for _, g in batches(recs, "SingleRecord", 1000, "Line")] == [1] * 10
    with pytest.raises(ValidationError, match="Record 0"):
        list(batches([b"y" * 100], "MultiRecord", 50, "Line"))


@pytest.mark.parametrize("path,value,expected", [
    ("$", [1, 2, 3], [1, 2, 3]),
    ("$[1:]", ["id", "a", "b"], ["a", "b"]),
    ("$[0,-1]", ["id", "a", "b", "p"], ["id", "p"]),
    ("$[1]", ["id", "a"], "a"),
    ("$.features", {"features": [1, 2], "id": 3}, [1, 2]),
    ("$['id','SageMakerOutput']", {"id": 1, "x": 2, "SageMakerOutput": 9}, [1, 9]),
    ("$.a.b[0]", {"a": {"b": [5, 6]}}, 5),
    ("$.*", {"a": 1, "b": 2}, [1, 2]),
])
def test_jsonpath_subset(path, value, expected):
    assert select(value, path) == expected


def test_jsonpath_errors_say_what_is_wrong():
    with pytest.raises(ValidationError, match="must start with"):
        select([1], "features")
    with pytest.raises(ValidationError, match="selects nothing"):
        select({"a": 1}, "$.b")


def test_csv_input_filter_join_and_output_filter():
    dp = DataProcessing.from_request({"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    assert dp.filter_input(b"id7,1.5,2.5", "text/csv") == b"1.5,2.5"
    assert dp.finish(b"id7,1.5,2.5", b"0.93", "text/csv", "text/csv") == b"id7,0.93"


def test_json_join_adds_sagemaker_output():
    dp = DataProcessing.from_request({"JoinSource": "Input"})
    out = json.loads(dp.finish(b'{"id":1,"f":[1,2]}', b'{"score":0.5}', "application/jsonlines",
                               "application/jsonlines"))
    assert out == {"id": 1, "f": [1, 2], "SageMakerOutput": {"score": 0.5}}
    out = json.loads(dp.finish(b"[1,2]", b"3", "application/json", "application/json"))
    assert out == {"SageMakerInput": [1, 2], "SageMakerOutput": 3}


def _sum_rows(body: bytes) -> bytes:
    """A stand-in model: each CSV row -> the sum of its numbers, one line per row."""
    lines = [ln for ln in body.decode().splitlines() if ln]
    return "\n".join(str(sum(float(v) for v in ln.split(","))) for ln in lines).encode() + b"\n"


@pytest.fixture
def store(tmp_path):
    s = LocalObjectStore(str(tmp_path / "objects"))
    s.create_bucket("data")
    return s


def _spec(**kw) -> TransformSpec:
    base = dict(input_uri="s3://data/in/", split_type="Line", batch_strategy="MultiRecord", max_payload_mb=1,
                max_concurrent=4, output_path="s3://data/out", accept="text/csv", assemble_with="Line")
    base.update(kw)
    return TransformSpec(**base)


def test_run_transform_keeps_order_per_object_and_names_outputs(store, tmp_path):
    rows_a = "".join(f"{i},{i}\n" for i in range(50_000)).encode()
    store.put_object("data", "in/a.csv", rows_a)
    store.put_object("data", "in/sub/b.csv", b"1,1\n2,2\n")
    delays = iter([0.05, 0.0, 0.02, 0.0] * 100)
    lock = threading.Lock()

    def slow_model(body: bytes) -> bytes:
        with lock:
            d = next(delays, 0.0)
        time.sleep(d)  # out-of-order completion must not reorder the output
        return _sum_rows(body)

    stats = run_transform(store, _spec(max_payload_mb=0 or 1), slow_model, str(tmp_path))
    assert stats["objects"] == 2 and stats["requests"] >= 2
    out_a = store.get_bytes("data", "out/a.csv.out").decode().split()
    assert out_a == [str(float(2 * i)) for i in range(50_000)]
    assert store.get_bytes("data", "out/sub/b.csv.out") == b"2.0\n4.0\n"


def test_filters_and_join_through_the_engine(store, tmp_path):
    store.put_object("data", "in/x.csv", b"a,1,2\nb,3,4\nc,5,6\n")
    spec = _spec(batch_strategy="SingleRecord", processing=DataProcessing("$[1:]", "Input", "$[0,-1]"))
    run_transform(store, spec, _sum_rows, str(tmp_path))
    assert store.get_bytes("data", "out/x.csv.out") == b"a,3.0\nb,7.0\nc,11.0\n"
    spec = _spec(batch_strategy="MultiRecord", processing=DataProcessing("$[1:]", "Input", "$[0,-1]"))
    run_transform(store, spec, _sum_rows, str(tmp_path))
    assert store.get_bytes("data", "out/x.csv.out") == b"a,3.0\nb,7.0\nc,11.0\n"


def test_failure_names_object_and_records_and_writes_nothing(store, tmp_path):
    store.put_object("data", "in/bad.csv", b"1,2\n3,x\n")

    def strict(body: bytes) -> bytes:
        if b"x" in body:
            raise ValidationError("could not convert 'x' to float")
        return _sum_rows(body)

    with pytest.raises(TransformFailure, match=r"s3://data/in/bad.csv failed at records 1-1: could not convert"):
        run_transform(store, _spec(batch_strategy="SingleRecord"), strict, str(tmp_path))
    assert not list(store.iter_keys("data", "out/"))


def test_recordio_split_sends_framed_batches(store, tmp_path):
    payloads = [f"r{i}".encode() for i in range(5)]
    store.put_object("data", "in/r.rec", b"".join(frame(p) for p in payloads))
    seen = []

    def echo(body: bytes) -> bytes:
        recs = split_frames(body)
        seen.append(len(recs))
        return b"".join(r + b"\n" for r in recs)

    run_transform(store, _spec(split_type="RecordIO", assemble_with="None"), echo, str(tmp_path))
    assert sum(seen) == 5
    assert store.get_bytes("data", "out/r.rec.out") == b"r0\nr1\nr2\nr3\nr4\n"
