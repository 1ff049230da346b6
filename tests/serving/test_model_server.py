"""The model server process: /ping, invocations in every content type, errors as 4xx, concurrency."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import textwrap

import httpx
import numpy as np
import pytest

from serving_helpers import XGB_HANDLER, ModelServer, train_tiny_model


@pytest.fixture(scope="module")
def xgb_server(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("xgb") / "model"
    booster = train_tiny_model(model_dir)
    server = ModelServer(model_dir, "--handler", XGB_HANDLER)
    yield server, booster
    assert server.stop() == 0  # SIGTERM is a clean shutdown


def test_ping_and_unknown_route(xgb_server):
    server, _ = xgb_server
    r = httpx.get(server.url + "/ping")
    assert r.status_code == 200 and r.content == b""
    assert httpx.get(server.url + "/nope").status_code == 404
    assert httpx.get(server.url + "/invocations").status_code == 405
    params = httpx.get(server.url + "/execution-parameters").json()
    assert params["BatchStrategy"] == "MULTI_RECORD"


def test_csv_json_and_libsvm_match_in_process_predictions(xgb_server):
    server, booster = xgb_server
    rows = np.random.default_rng(5).random((3, 4)).astype(np.float32)
    expected = booster.inplace_predict(rows)
    csv = "\n".join(",".join(str(v) for v in r) for r in rows).encode()
    r = httpx.post(server.url + "/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv"
    np.testing.assert_allclose([float(x) for x in r.text.splitlines()], expected, rtol=1e-6)
    doc = {"instances": [{"features": r.tolist()} for r in rows]}
    r = httpx.post(server.url + "/invocations", content=json.dumps(doc),
                   headers={"Content-Type": "application/json", "Accept": "application/json",
                            "X-Amzn-SageMaker-Custom-Attributes": "trace=7"})
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-sagemaker-custom-attributes"] == "trace=7"
    np.testing.assert_allclose([p["score"] for p in r.json()["predictions"]], expected, rtol=1e-6)
    r = httpx.post(server.url + "/invocations", content=json.dumps(rows.tolist()),
                   headers={"Content-Type": "application/json"})
    assert len(r.text.splitlines()) == 3  # default Accept for XGBoost is CSV
    libsvm = "\n".join("0 " + " ".join(f"{j}:{v}" for j, v in enumerate(r)) for r in rows).encode()
    r = httpx.post(server.url + "/invocations", content=libsvm, headers={"Content-Type": "text/libsvm"})
    np.testing.assert_allclose([float(x) for x in r.text.splitlines()], expected, rtol=1e-6)


@pytest.mark.parametrize("body, ctype, message", [
    (b"1,2,3", "text/csv", "Feature size of csv inference data 3 is not consistent with feature size of trained "
                           "model 4."),
    (b"1,2,x,4", "text/csv", "'x' is not a number"),
    (b"1,2,3,4\n1,2", "text/csv", "CSV row 2 has 2 columns"),
    (b'{"instances": [{"features": ["a"]}]}', "application/json", "JSON payload must be"),
    (b"{nope", "application/json", "Could not parse JSON payload"),
    (b"0 9:1.0", "text/libsvm", "feature index 9 is outside"),
    (b"1,2,3,4", "image/png", "Content type image/png is not supported"),
])
def test_bad_payloads_are_400_with_message(xgb_server, body, ctype, message):
    server, _ = xgb_server
    r = httpx.post(server.url + "/invocations", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and message in r.text, r.text


def test_bad_accept_and_malformed_http(xgb_server):
    server, _ = xgb_server
    r = httpx.post(server.url + "/invocations", content=b"1,2,3,4",
                   headers={"Content-Type": "text/csv", "Accept": "image/png"})
    assert r.status_code == 400 and "Accept type image/png" in r.text
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    assert httpx.get(server.url + "/ping").status_code == 200  # still serving


def test_keep_alive_pipelining_and_concurrency(xgb_server):
    server, booster = xgb_server
    # two pipelined requests on one connection come back in order
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        req = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 7\r\n\r\n"
               b"1,2,3,4")
        s.sendall(req + req.replace(b"1,2,3,4", b"0,0,0,0"))
        data = b""
        bodies: list[bytes] = []
        while len(bodies) < 2 and len(data) < 10000:
            data += s.recv(4096)
            bodies, rest = [], data
            while b"\r\n\r\n" in rest:
                head, rest = rest.split(b"\r\n\r\n", 1)
                n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(rest) < n:
                    break
                assert head.startswith(b"HTTP/1.1 200")
                bodies.append(rest[:n])
                rest = rest[n:]
        assert float(bodies[0]) == pytest.approx(
            float(booster.inplace_predict(np.array([[1, 2, 3, 4]], np.float32))[0]), rel=1e-6)
        assert float(bodies[1]) == pytest.approx(
            float(booster.inplace_predict(np.zeros((1, 4), np.float32))[0]), rel=1e-6)

    def worker(i: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        ok = 0
        for j in range(50):
            conn.request("POST", "/invocations", body=f"{i},{j},0.5,0.5", headers={"Content-Type": "text/csv"})
            resp = conn.getresponse()
            float(resp.read())
            ok += resp.status == 200
        conn.close()
        return ok

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert sum(pool.map(worker, range(16))) == 16 * 50
    big = ("\n".join(["0.1,0.2,0.3,0.4"] * 40000)).encode()  # > offload threshold: runs in a thread
    r = httpx.post(server.url + "/invocations", content=big, headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 200 and len(r.text.splitlines()) == 40000


def test_script_mode_handlers(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "weights.txt").write_text("3")
    (model_dir / "code" / "serve.py").write_text(textwrap.dedent("""
        import json, os
        class Oops(Exception):
            status_code = 415
        def model_fn(model_dir):
            return float(open(os.path.join(model_dir, "weights.txt")).read())
        def input_fn(body, content_type):
            if content_type == "application/x-bad":
                raise Oops("I only eat JSON")
            assert isinstance(body, str)  # text types arrive decoded, as in the framework containers
            return json.loads(body)
        def predict_fn(data, model):
            if data == "boom":
                raise ValueError("cannot predict boom")
            return [x * model for x in data]
    """))
    server = ModelServer(model_dir, "--script-program", "serve.py")
    try:
        r = httpx.post(server.url + "/invocations", content=b"[1, 2]", headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.json() == [3.0, 6.0] and r.headers["content-type"] == "application/json"
        r = httpx.post(server.url + "/invocations", content=b'"boom"', headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.text == "cannot predict boom"
        r = httpx.post(server.url + "/invocations", content=b"x", headers={"Content-Type": "application/x-bad"})
        assert r.status_code == 415 and r.text == "I only eat JSON"
        r = httpx.post(server.url + "/invocations", content=b"[1]", headers={"Content-Type": "application/json",
                                                                           "Accept": "text/csv"})
        assert r.status_code == 200 and float(r.text) == 3.0
    finally:
        assert server.stop() == 0


def test_script_mode_defaults_and_transform_fn(tmp_path):
    model_dir = tmp_path / "model"
    code = tmp_path / "src"
    code.mkdir()
    (code / "inference.py").write_text(textwrap.dedent("""
        def model_fn(model_dir):
            return lambda rows: rows.sum(axis=1)
        def transform_fn(model, body, content_type, accept):
            import numpy as np
            rows = np.genfromtxt(body.decode().splitlines(), delimiter=",", ndmin=2)
            return ",".join(str(v) for v in model(rows)), "text/plain"
    """))
    model_dir.mkdir()
    server = ModelServer(model_dir, "--code-dir", str(code), env={"SAGEMAKER_PROGRAM": "inference.py"})
    try:
        r = httpx.post(server.url + "/invocations", content=b"1,2\n3,4", headers={"Content-Type": "text/csv"})
        assert r.status_code == 200 and r.text == "3.0,7.0" and r.headers["content-type"] == "text/plain"
    finally:
        server.stop()


def test_model_that_cannot_load_exits_nonzero(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(RuntimeError, match="No XGBoost model found"):
        ModelServer(tmp_path / "model", "--handler", XGB_HANDLER)
