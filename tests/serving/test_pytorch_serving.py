"""PyTorch models served as AWS's PyTorch inference container (sagemaker-pytorch-inference-toolkit) serves them.

The defaults (TorchScript ``model.pt`` without any script; JSON/CSV/npy/npz in, JSON/CSV/npy out by Accept),
a user's ``inference.py`` overriding any of model_fn/input_fn/predict_fn/output_fn/transform_fn (with the
optional ``context`` argument), clear 4xx errors for bad payloads, clear load errors for models the defaults
cannot load, and one model server process answering over HTTP."""

from __future__ import annotations

import io
import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from shipyard.errors import ValidationError
from shipyard.serving.frameworks import pytorch as pt
from shipyard.serving.frameworks import serving_args
from shipyard.serving.script_handler import ScriptHandler

torch = pytest.importorskip("torch", reason="torch is in the test extra: pip install -e '.[test]'")

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture(autouse=True)
def pytorch_image(monkeypatch):
    """The model server of a PyTorch image runs with SHIPYARD_IMAGE set (serving.deploy.prepare)."""
    monkeypatch.setenv("SHIPYARD_IMAGE", IMAGE)
    monkeypatch.delenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", raising=False)


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()


def _torchscript(model_dir: Path, name: str = "model.pt") -> torch.nn.Module:
    model = _mlp()
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(model), str(model_dir / name))
    return model


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


X = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5], [2.0, 0.0, -0.7]], dtype=np.float32)


def _expected(model, x=X):
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()


def test_serving_args_keep_the_script_handler_on_the_image_environment(tmp_path):
    assert serving_args("pytorch", tmp_path, None, None) == [
        "--script-program", "inference.py", "--code-dir", str(tmp_path / "code")]
    assert serving_args("pytorch", tmp_path, tmp_path / "src", "serve.py") == [
        "--script-program", "serve.py", "--code-dir", str(tmp_path / "src")]


def test_torchscript_model_without_any_script_npy_json_csv(tmp_path):
    model = _torchscript(tmp_path)
    h = ScriptHandler(str(tmp_path))
    assert h.module is None
    want = _expected(model)

    body, ctype = h.invoke(_npy(X), "application/x-npy", "application/x-npy")
    got = np.load(io.BytesIO(body))
    assert ctype == "application/x-npy" and got.shape == (3, 2)
    assert got.dtype == np.float64  # as AWS's: np.save of the prediction's lists
    np.testing.assert_allclose(got, want, rtol=1e-6)

    body, ctype = h.invoke(json.dumps(X.tolist()).encode(), "application/json", "application/json")
    assert ctype == "application/json"
    np.testing.assert_allclose(json.loads(body), want, rtol=1e-5)

    csv = "\n".join(",".join(str(v) for v in row) for row in X.tolist()).encode()
    body, ctype = h.invoke(csv, "text/csv", "text/csv")
    assert ctype == "text/csv"
    np.testing.assert_allclose(np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2), want, rtol=1e-5)


def test_accept_defaults_lists_and_environment(tmp_path, monkeypatch):
    _torchscript(tmp_path)
    h = ScriptHandler(str(tmp_path))
    payload = _npy(X)
    assert h.invoke(payload, "application/x-npy", "")[1] == "application/json"  # default accept
    assert h.invoke(payload, "application/x-npy", "*/*")[1] == "application/json"
    assert h.invoke(payload, "application/x-npy", "image/png, text/csv;q=0.9")[1] == "text/csv"
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/x-npy")
    assert ScriptHandler(str(tmp_path)).invoke(payload, "application/x-npy", "")[1] == "application/x-npy"


def test_npz_single_array_and_sparse_matrix(tmp_path):
    model = _torchscript(tmp_path)
    h = ScriptHandler(str(tmp_path))
    buf = io.BytesIO()
    np.savez(buf, x=X)
    np.testing.assert_allclose(json.loads(h.invoke(buf.getvalue(), "application/x-npz", "application/json")[0]),
                               _expected(model), rtol=1e-5)
    sp = pytest.importorskip("scipy.sparse")
    buf = io.BytesIO()
    sp.save_npz(buf, sp.csr_matrix(X))
    np.testing.assert_allclose(json.loads(h.invoke(buf.getvalue(), "application/x-npz", "application/json")[0]),
                               _expected(model), rtol=1e-5)
    buf = io.BytesIO()
    np.savez(buf, a=X, b=X)
    with pytest.raises(ValidationError, match="exactly one"):
        h.invoke(buf.getvalue(), "application/x-npz", "application/json")


def test_json_and_csv_become_float32_npy_keeps_dtype():
    t = pt.input_fn("[[1, 2, 3]]", "application/json")
    assert t.dtype == torch.float32 and tuple(t.shape) == (1, 3)
    t = pt.input_fn("1,2,3\n4,5,6", "text/csv; charset=utf-8")
    assert t.dtype == torch.float32 and tuple(t.shape) == (2, 3)
    assert pt.input_fn(_npy(np.arange(3, dtype=np.int64)), "application/x-npy").dtype == torch.int64


@pytest.mark.parametrize("body,ctype,accept,message", [
    (b"[[1, 2", "application/json", "application/json", "Could not decode the application/json"),
    (b'[[1, 2, 3], [4]]', "application/json", "application/json", "Could not decode the application/json"),
    (b'[["a", "b", "c"]]', "application/json", "application/json", "not a numeric array"),
    (b"not npy", "application/x-npy", "application/json", "Could not decode the application/x-npy"),
    (b"1,2,3", "image/png", "application/json", "not supported by the PyTorch container's default input_fn"),
    (b"[[1, 2, 3]]", "application/json", "application/x-recordio-protobuf", "default output_fn"),
    (b"[[1, 2, 3, 4]]", "application/json", "application/json", "could not run on the input (shape (1, 4)"),
])
def test_bad_payloads_are_validation_errors(tmp_path, body, ctype, accept, message):
    _torchscript(tmp_path)
    h = ScriptHandler(str(tmp_path))
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        h.invoke(body, ctype, accept)


def test_float64_npy_fails_as_on_aws_but_says_to_send_float32(tmp_path):
    _torchscript(tmp_path)
    with pytest.raises(ValidationError, match="send float32"):
        ScriptHandler(str(tmp_path)).invoke(_npy(X.astype(np.float64)), "application/x-npy", "application/json")


def test_model_pth_found_when_no_model_pt(tmp_path):
    model = _torchscript(tmp_path, "weights.pth")
    got = json.loads(ScriptHandler(str(tmp_path)).invoke(_npy(X), "application/x-npy", "application/json")[0])
    np.testing.assert_allclose(got, _expected(model), rtol=1e-5)


def test_models_the_default_model_fn_cannot_load_say_to_provide_model_fn(tmp_path):
    (tmp_path / "a").mkdir()
    torch.save(_mlp().state_dict(), str(tmp_path / "a" / "model.pth"))
    with pytest.raises(ValueError, match="not a TorchScript model.*provide model_fn"):
        ScriptHandler(str(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"Exactly one .pth or .pt file.*found \[\]"):
        ScriptHandler(str(tmp_path / "b"))
    _torchscript(tmp_path / "c", "one.pt")
    _torchscript(tmp_path / "c", "two.pth")
    with pytest.raises(ValueError, match=r"found \['one.pt', 'two.pth'\].*model_fn"):
        ScriptHandler(str(tmp_path / "c"))


EAGER_MODEL_FN = """
    import os
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

        def forward(self, x):
            return self.layers(x)

    def model_fn(model_dir):
        net = Net()
        net.layers.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
        return net
"""


def _script(code_dir: Path, text: str, name: str = "inference.py") -> None:
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / name).write_text(textwrap.dedent(text))


def test_model_fn_only_override_uses_default_input_predict_output(tmp_path):
    model = _mlp()
    torch.save(model.state_dict(), str(tmp_path / "model.pth"))
    _script(tmp_path / "code", EAGER_MODEL_FN)
    h = ScriptHandler(str(tmp_path))
    body, ctype = h.invoke(_npy(X), "application/x-npy", "application/x-npy")
    assert ctype == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(body)), _expected(model), rtol=1e-5)
    assert h.model.training is False  # the default predict_fn puts the model in eval mode


def test_every_handler_overridden_with_context(tmp_path):
    _torchscript(tmp_path)
    _script(tmp_path / "src", """
        import json
        import torch

        def model_fn(model_dir, context):
            assert context.system_properties["model_dir"] == model_dir
            return torch.jit.load(model_dir + "/model.pt")

        def input_fn(body, content_type, context):
            assert isinstance(body, str) and content_type == "application/json"
            return torch.tensor(json.loads(body)["rows"], dtype=torch.float32)

        def predict_fn(data, model, context):
            with torch.no_grad():
                return model(data).argmax(dim=1)

        def output_fn(prediction, accept):
            return json.dumps({"classes": prediction.tolist()}), "application/vnd+classes"
    """, "serve.py")
    h = ScriptHandler(str(tmp_path), "serve.py", str(tmp_path / "src"))
    body, ctype = h.invoke(json.dumps({"rows": X.tolist()}).encode(), "application/json", "application/json")
    assert ctype == "application/vnd+classes"
    assert json.loads(body) == {"classes": _expected(_mlp()).argmax(axis=1).tolist()}


def test_input_fn_gets_bytes_for_binary_types_and_output_fn_default_encodes(tmp_path):
    _torchscript(tmp_path)
    _script(tmp_path / "code", """
        import numpy as np
        import torch

        def input_fn(body, content_type):
            assert isinstance(body, (bytes, bytearray)), type(body)
            return torch.from_numpy(np.frombuffer(body, dtype=np.float32).reshape(-1, 3).copy())
    """)
    body, ctype = ScriptHandler(str(tmp_path)).invoke(X.tobytes(), "application/octet-stream", "text/csv")
    assert ctype == "text/csv" and len(body.decode().strip().splitlines()) == 3


def test_transform_fn_alone_and_refused_next_to_input_fn(tmp_path):
    _torchscript(tmp_path)
    _script(tmp_path / "code", """
        def transform_fn(model, body, content_type, accept, context):
            return b"rows=" + str(len(body.splitlines())).encode(), "text/plain"
    """)
    assert ScriptHandler(str(tmp_path)).invoke(b"1,2,3\n4,5,6", "text/csv", "text/plain") == (b"rows=2",
                                                                                               "text/plain")
    _script(tmp_path / "code", """
        def input_fn(body, content_type):
            return body

        def transform_fn(model, body, content_type, accept):
            return body
    """)
    with pytest.raises(ValueError, match="Cannot use transform_fn implementation in conjunction"):
        ScriptHandler(str(tmp_path))


def test_other_framework_images_keep_the_generic_rules(tmp_path, monkeypatch):
    """No PyTorch defaults outside PyTorch images: a missing script or model_fn is still an error there."""
    _torchscript(tmp_path)
    monkeypatch.setenv("SHIPYARD_IMAGE", SKLEARN_IMAGE)
    with pytest.raises(FileNotFoundError):
        ScriptHandler(str(tmp_path))
    monkeypatch.delenv("SHIPYARD_IMAGE")
    with pytest.raises(FileNotFoundError):
        ScriptHandler(str(tmp_path))


def test_model_server_process_answers_npy_and_json_and_400s(tmp_path):
    """The real model server process, started with the arguments deploy gives a PyTorch image's model."""
    from serving_helpers import ModelServer

    model = _torchscript(tmp_path / "model")
    srv = ModelServer(tmp_path / "model", *pt.serving_args(tmp_path / "model", None, None),
                      env={"SHIPYARD_IMAGE": IMAGE})
    try:
        def post(body, ctype, accept):
            req = urllib.request.Request(srv.url + "/invocations", data=body, method="POST",
                                         headers={"Content-Type": ctype, "Accept": accept})
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read(), r.headers["Content-Type"]

        body, ctype = post(_npy(X), "application/x-npy", "application/x-npy")
        assert ctype == "application/x-npy"
        np.testing.assert_allclose(np.load(io.BytesIO(body)), _expected(model), rtol=1e-5)
        body, ctype = post(json.dumps(X.tolist()).encode(), "application/json", "application/json")
        np.testing.assert_allclose(json.loads(body), _expected(model), rtol=1e-5)
        with pytest.raises(urllib.error.HTTPError) as err:
            post(b"[[1, 2", "application/json", "application/json")
        assert err.value.code == 400 and b"Could not decode" in err.value.read()
    finally:
        srv.stop()
