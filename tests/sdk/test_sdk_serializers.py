import json

import numpy as np

from shipyard.sdk import (CSVDeserializer, CSVSerializer, JSONDeserializer, JSONSerializer, NumpyDeserializer,
                          NumpySerializer)


def test_csv_serializer_shapes():
    s = CSVSerializer()
    assert s.CONTENT_TYPE == "text/csv"
    assert s.serialize([1, 2.5, 3]) == "1,2.5,3"
    assert s.serialize([[1, 2], [3, 4]]) == "1,2\n3,4"
    assert s.serialize(np.array([[1.0, 2.0], [3.0, 4.0]])) == "1.0,2.0\n3.0,4.0"
    assert s.serialize(np.array([0.5, 1.5])) == "0.5,1.5"
    assert s.serialize("a,b") == "a,b"
    assert s.serialize(b"1,2") == "1,2"


def test_csv_deserializer_returns_rows_of_strings():
    d = CSVDeserializer()
    assert d.ACCEPT == ("text/csv",)
    assert d.deserialize(b"0.1\n0.9\n", "text/csv") == [["0.1"], ["0.9"]]
    assert d.deserialize(b"1,2\n3,4", "text/csv") == [["1", "2"], ["3", "4"]]


def test_json_round_trip_with_numpy():
    s, d = JSONSerializer(), JSONDeserializer()
    body = s.serialize({"instances": np.array([[1, 2]])})
    assert json.loads(body) == {"instances": [[1, 2]]}
    assert d.deserialize(body.encode(), "application/json") == {"instances": [[1, 2]]}


def test_numpy_round_trip_and_other_answers():
    arr = np.arange(6, dtype="float32").reshape(2, 3)
    body = NumpySerializer().serialize(arr)
    assert NumpySerializer.CONTENT_TYPE == "application/x-npy"
    out = NumpyDeserializer().deserialize(body, "application/x-npy")
    assert out.dtype == np.float32 and out.tolist() == arr.tolist()
    assert NumpyDeserializer().deserialize(b"0.25\n0.75\n", "text/csv").tolist() == [0.25, 0.75]
    assert NumpyDeserializer().deserialize(b"[[1, 2]]", "application/json").tolist() == [[1, 2]]
