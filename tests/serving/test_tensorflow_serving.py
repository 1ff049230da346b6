"""The TensorFlow Serving contract of the tensorflow-inference image: SavedModel layouts, row and columnar
requests, signatures, the container's CSV/JSON Lines conversions, inference.py handlers, errors as 4xx."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'shipyard[tensorflow]')")

from shipyard.serving.frameworks import serving_args  # noqa: E402
from shipyard.serving.frameworks.tensorflow import (  # noqa: E402
    HANDLER, TensorFlowServingHandler, find_saved_models, to_tfs_request,
)

W = np.array([[1.0, 0.5], [-1.0, 2.0], [0.25, 0.0]], dtype=np.float32)
B = np.array([0.1, -0.2], dtype=np.float32)


class Tiny(tf.Module):
    """serving_default: x [None, 3] -> y = xW + b; "multi": a [None, 2], s [None] strings -> sum, len."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(W)
        self.b = tf.Variable(B)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"),
                                  tf.TensorSpec([None], tf.string, name="s")])
    def multi(self, a, s):
        return {"sum": tf.reduce_sum(a, axis=1), "len": tf.strings.length(s)}


def save_tiny(path: Path) -> None:
    m = Tiny()
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve, "multi": m.multi})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tfs") / "model"
    save_tiny(root / "1")
    return root


@pytest.fixture(scope="module")
def handler(model_dir) -> TensorFlowServingHandler:
    return TensorFlowServingHandler(str(model_dir))


def call(handler, doc, ctype="application/json"):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    out, out_type = handler.invoke(body, ctype, "application/json")
    assert out_type == "application/json"
    return json.loads(out)


def expected(rows):
    return (np.asarray(rows, dtype=np.float32) @ W + B).tolist()


ROWS = [[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]


def test_row_and_columnar_formats(handler):
    np.testing.assert_allclose(call(handler, {"instances": ROWS})["predictions"], expected(ROWS), rtol=1e-6)
    np.testing.assert_allclose(call(handler, {"instances": [{"x": r} for r in ROWS]})["predictions"],
                               expected(ROWS), rtol=1e-6)
    np.testing.assert_allclose(call(handler, {"inputs": ROWS})["outputs"], expected(ROWS), rtol=1e-6)
    np.testing.assert_allclose(call(handler, {"inputs": {"x": ROWS}})["outputs"], expected(ROWS), rtol=1e-6)


def test_signature_name_multiple_inputs_outputs_and_b64(handler):
    b64 = base64.b64encode(b"\x00\xffz").decode()
    doc = {"signature_name": "multi", "instances": [{"a": [1, 2], "s": "abc"}, {"a": [3, 4], "s": {"b64": b64}}]}
    assert call(handler, doc)["predictions"] == [{"len": 3, "sum": 3.0}, {"len": 3, "sum": 7.0}]
    doc = {"signature_name": "multi", "inputs": {"a": [[1, 1]], "s": ["hello"]}}
    assert call(handler, doc)["outputs"] == {"len": [5], "sum": [2.0]}


def test_container_conversions_bare_lists_jsonlines_csv(handler):
    np.testing.assert_allclose(call(handler, ROWS)["predictions"], expected(ROWS), rtol=1e-6)  # bare [[..]]
    np.testing.assert_allclose(call(handler, ROWS[0])["predictions"], expected(ROWS[:1]), rtol=1e-6)  # [..]
    lines = "\n".join(json.dumps(r) for r in ROWS).encode()
    for ctype in ("application/jsonlines", "application/json"):
        np.testing.assert_allclose(call(handler, lines, ctype)["predictions"], expected(ROWS), rtol=1e-6)
    csv = b"1,2,3\n0,-1,4\n"
    np.testing.assert_allclose(call(handler, csv, "text/csv")["predictions"], expected(ROWS), rtol=1e-6)
    assert json.loads(to_tfs_request(b"a,b\nc,d", "text/csv")) == {"instances": [["a", "b"], ["c", "d"]]}
    assert json.loads(to_tfs_request(b"5", "text/csv")) == {"instances": [5]}


def test_same_answer_batched_and_one_by_one(handler):
    rows = np.random.default_rng(0).normal(size=(7, 3)).tolist()
    batch = call(handler, {"instances": rows})["predictions"]
    single = [call(handler, {"instances": [r]})["predictions"][0] for r in rows]
    assert batch == single


@pytest.mark.parametrize("body, ctype, status, words", [
    (b"{not json", "application/json", 400, "JSON Parse error"),
    (json.dumps({"instances": [[1, 2]]}).encode(), "application/json", 400, "[-1, 3]"),
    (json.dumps({"instances": [[1, 2, 3]], "signature_name": "nope"}).encode(), "application/json", 400,
     "not found"),
    (json.dumps({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}).encode(), "application/json", 400,
     "exactly one"),
    (json.dumps({"instances": [{"z": [1, 2, 3]}]}).encode(), "application/json", 400, "x"),
    (json.dumps({"instances": [["a", "b", "c"]]}).encode(), "application/json", 400, "float"),
    (json.dumps({"instances": []}).encode(), "application/json", 400, "empty"),
    (json.dumps({"signature_name": "multi", "instances": [[1, 2]]}).encode(), "application/json", 400,
     "each instance must be an object"),
    (b"1,x,3", "text/csv", 400, "not numeric"),
    (b"\x00\x01", "application/x-npy", 415, "Unsupported Media Type"),
])
def test_bad_requests_are_clear_4xx(handler, body, ctype, status, words):
    from shipyard.serving.model_server import error_status

    with pytest.raises(Exception) as info:
        handler.invoke(body, ctype, "application/json")
    assert error_status(info.value) == status
    assert words in info.value.message


def test_layouts_versions_and_named_models(tmp_path):
    save_tiny(tmp_path / "a" / "model" / "1")
    save_tiny(tmp_path / "a" / "model" / "10")
    models = find_saved_models(tmp_path / "a")
    assert sorted(models["model"]) == [1, 10]
    h = TensorFlowServingHandler(str(tmp_path / "a"))
    assert (h.server.name, h.server.version) == ("model", 10)  # the highest version, as TF Serving
    save_tiny(tmp_path / "bare")
    h = TensorFlowServingHandler(str(tmp_path / "bare"))  # <model>/saved_model.pb
    assert h.server.version == 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        TensorFlowServingHandler(str(tmp_path / "empty"))
    assert serving_args("tensorflow", tmp_path / "a", None, None) == ["--handler", HANDLER]


def test_inference_py_input_and_output_handlers(tmp_path):
    save_tiny(tmp_path / "m" / "1")
    code = tmp_path / "m" / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent("""
        import json

        def input_handler(data, context):
            if context.request_content_type == "text/plain":
                values = [float(v) for v in data.read().decode("utf-8").split()]
                return json.dumps({"instances": [values]})
            if context.request_content_type == "application/json":
                return data.read().decode("utf-8")
            raise ValueError("unsupported content type " + context.request_content_type)

        def output_handler(response, context):
            if response.status_code != 200:
                raise ValueError(response.content.decode("utf-8"))
            preds = response.json()["predictions"]
            return json.dumps({"scores": preds, "model": context.model_name}), "application/x-custom"
    """))
    h = TensorFlowServingHandler(str(tmp_path / "m"))
    out, ctype = h.invoke(b"1 2 3", "text/plain", "application/json")
    assert ctype == "application/x-custom"
    doc = json.loads(out)
    assert doc["model"] == "m"
    np.testing.assert_allclose(doc["scores"], expected(ROWS[:1]), rtol=1e-6)
    from shipyard.serving.model_server import error_status

    with pytest.raises(Exception) as info:  # the user's ValueError: a 500 {"error": ...}, as the container
        h.invoke(b"x", "image/png", "application/json")
    assert error_status(info.value) == 500 and "unsupported content type" in json.loads(str(info.value))["error"]


def test_inference_py_handler_posts_to_rest_uri(tmp_path):
    save_tiny(tmp_path / "m" / "1")
    code = tmp_path / "m" / "code"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent("""
        import json, urllib.request

        def handler(data, context):
            rows = json.loads(data.read())
            req = urllib.request.Request(context.rest_uri, data=json.dumps({"instances": rows}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                preds = json.loads(r.read())["predictions"]
            return json.dumps([max(p) for p in preds]), "application/json"
    """))
    h = TensorFlowServingHandler(str(tmp_path / "m"))
    out, _ = h.invoke(json.dumps(ROWS).encode(), "application/json", "application/json")
    np.testing.assert_allclose(json.loads(out), [max(r) for r in expected(ROWS)], rtol=1e-6)


def test_model_server_process(model_dir):
    """The model server started as deploy starts it for a tensorflow-inference image."""
    import httpx

    ready = model_dir.parent / f".port-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.serving.model_server", "--model-dir", str(model_dir),
                             "--port", "0", "--ready-file", str(ready),
                             *serving_args("tensorflow", model_dir, None, None)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120  # importing TensorFlow takes seconds on a loaded machine
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the model server did not start in 120 s"
            time.sleep(0.1)
        url = f"http://127.0.0.1:{int(ready.read_text())}/invocations"
        r = httpx.post(url, json={"instances": ROWS}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        np.testing.assert_allclose(r.json()["predictions"], expected(ROWS), rtol=1e-6)
        r = httpx.post(url, json={"instances": [[1, 2]]}, timeout=30)
        assert r.status_code == 400 and "expects [-1, 3]" in r.text
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_without_orjson_the_standard_library_answers_the_same(handler, monkeypatch):
    """A model server on a framework image's environment may lack orjson: the standard library takes over
    (and reads NaN, as TF Serving does)."""
    import shipyard.serving.frameworks.tensorflow as tfs

    fast = call(handler, {"instances": ROWS})
    monkeypatch.setattr(tfs, "orjson", None)
    assert call(handler, {"instances": ROWS}) == fast
    out = call(handler, b'{"instances": [[NaN, 1, 2]]}')
    assert np.isnan(out["predictions"][0][0])


def test_code_dir_and_inference_toolkit_scripts(tmp_path):
    save_tiny(tmp_path / "m" / "1")
    code = tmp_path / "src"
    code.mkdir()
    (code / "inference.py").write_text(
        "def input_handler(data, context):\n    return data.read()\n\n"
        "def output_handler(response, context):\n    return response.content, 'application/json'\n")
    assert serving_args("tensorflow", tmp_path / "m", code, "inference.py") == [
        "--handler", HANDLER, "--code-dir", str(code)]
    h = TensorFlowServingHandler(str(tmp_path / "m"), str(code))  # SAGEMAKER_SUBMIT_DIRECTORY's code
    assert h.input_handler is not None
    out, _ = h.invoke(json.dumps({"instances": ROWS}).encode(), "application/json", "application/json")
    np.testing.assert_allclose(json.loads(out)["predictions"], expected(ROWS), rtol=1e-6)
    # no SavedModel and an inference-toolkit script (model_fn): the generic script handler serves it
    (tmp_path / "other" / "code").mkdir(parents=True)
    (tmp_path / "other" / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    assert serving_args("tensorflow", tmp_path / "other", None, None) is None
