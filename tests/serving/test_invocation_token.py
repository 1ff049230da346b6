"""Only the router may call a model server: every request must carry the instance's token (issue 13).

A model server started with ``--token-file`` answers ``403`` to a request without the token (``/ping``
included) before any model code runs; a live endpoint's instance refuses a raw local POST while
InvokeEndpoint through the router still works.
"""

from __future__ import annotations

import http.client
import os
import socket
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest

from serving_helpers import ModelServer
from shipyard.metastore import open_metastore
from shipyard.serving.deploy import new_token, write_token_file

TOKEN_HEADER = "X-Shipyard-Token"


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def guarded(tmp_path):
    """A script-mode model server holding a token; its predict_fn leaves a mark for every call."""
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    marks = tmp_path / "marks"
    marks.mkdir()
    (model_dir / "code" / "serve.py").write_text(textwrap.dedent(f"""
        import json, os, uuid
        def model_fn(model_dir):
            return 2.0
        def predict_fn(data, model):
            open(os.path.join({str(marks)!r}, uuid.uuid4().hex), "w").close()
            return [x * model for x in data]
    """))
    token = new_token()
    token_file = write_token_file(tmp_path / ".token", token)
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600  # readable by its owner only
    server = ModelServer(model_dir, "--script-program", "serve.py", "--token-file", token_file)
    try:
        yield server, token, Path(token_file), marks
    finally:
        assert server.stop() == 0


def test_requests_without_the_token_are_refused_before_any_model_code(guarded):
    server, token, token_file, marks = guarded
    assert not token_file.exists()  # read and deleted before the model loaded
    body, ctype = b"[1, 2]", {"Content-Type": "application/json"}
    assert _request(server.port, "POST", "/invocations", body, ctype)[0] == 403
    assert _request(server.port, "POST", "/invocations", body, {**ctype, TOKEN_HEADER: "x" * len(token)})[0] == 403
    assert _request(server.port, "POST", "/invocations", body, {**ctype, TOKEN_HEADER: token[:-1]})[0] == 403
    assert _request(server.port, "POST", "/invocations", body, {**ctype, TOKEN_HEADER: ""})[0] == 403
    assert _request(server.port, "GET", "/ping")[0] == 403
    assert _request(server.port, "GET", "/execution-parameters")[0] == 403
    big = b"[" + b"1," * 300_000 + b"1]"  # over the offload threshold: would run in a worker thread
    assert _request(server.port, "POST", "/invocations", big, ctype)[0] == 403
    assert list(marks.iterdir()) == []  # no model code ran for any of them

    assert _request(server.port, "GET", "/ping", headers={TOKEN_HEADER: token}) == (200, b"")
    status, out = _request(server.port, "POST", "/invocations", body, {**ctype, TOKEN_HEADER: token})
    assert status == 200 and out == b"[2.0, 4.0]"
    assert len(list(marks.iterdir())) == 1


def test_a_refused_request_closes_its_connection_and_spares_the_next(guarded):
    server, token, _, marks = guarded
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 3\r\n\r\n[1]"
                  b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-Shipyard-Token: " + token.encode() + b"\r\nContent-Length: 3\r\n\r\n[1]")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403 ") and data.count(b"HTTP/1.1") == 1 and b"Connection: close" in data
    assert list(marks.iterdir()) == []
    # a fresh connection with the token is served
    status, _ = _request(server.port, "POST", "/invocations", b"[1]",
                         {"Content-Type": "application/json", TOKEN_HEADER: token})
    assert status == 200


def test_a_refused_request_is_answered_before_its_body_arrives(guarded):
    server, _, _, marks = guarded
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        data = s.recv(65536)  # no body sent: a server waiting for it would time out here
    assert data.startswith(b"HTTP/1.1 403 ")
    assert list(marks.iterdir()) == []


def test_a_server_that_cannot_read_its_token_file_does_not_start(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "code" / "serve.py").write_text("def model_fn(d):\n    return 1\n")
    with pytest.raises(RuntimeError, match="cannot start"):
        ModelServer(model_dir, "--script-program", "serve.py", "--token-file", str(tmp_path / "missing"))


# --- a live endpoint, through the router ---

def _instances(server, endpoint: str) -> list[dict]:
    meta = open_metastore(server.settings.database_url)
    try:
        doc = meta.get("endpoint", endpoint).doc
    finally:
        close = getattr(meta, "close", None)
        if close:
            close()
    return [i for insts in (doc.get("_instances") or {}).values() for i in insts]


def test_live_endpoint_refuses_local_callers_but_serves_the_router(server):
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent / "hosting"))
    from hosting_helpers import model_server_pids, model_tarball, upload, wait_in_service, XGB_IMAGE

    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    data, booster = model_tarball(3.0)
    url = upload(s3, "tokens", "model.tar.gz", data)
    sm.create_model(ModelName="tok", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="tok", ProductionVariants=[
        {"VariantName": "main", "ModelName": "tok", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="tok", EndpointConfigName="tok")
    try:
        wait_in_service(sm, "tok")
        row = b"0.3,0.1,0.7,0.2"
        insts = _instances(server, "tok")
        assert len(insts) == 2 and all(i.get("token") for i in insts)
        assert insts[0]["token"] != insts[1]["token"]  # one secret per instance
        pids = model_server_pids(server.home, "tok")
        assert len(pids) == 2
        for pid in pids:  # the secret is on no command line and in no environment
            for part in ("cmdline", "environ"):
                raw = Path(f"/proc/{pid}/{part}").read_bytes()
                assert not any(i["token"].encode() in raw for i in insts)
        variant_dir = Path(server.home) / "runs" / "endpoints" / "tok" / "main"
        assert not list(variant_dir.glob(".token-*"))  # every token file was read and removed
        for inst in insts:
            status, _ = _request(inst["port"], "POST", "/invocations", row, {"Content-Type": "text/csv"})
            assert status == 403
            other = next(i for i in insts if i is not inst)  # one instance's token opens no other
            status, _ = _request(inst["port"], "POST", "/invocations", row,
                                 {"Content-Type": "text/csv", TOKEN_HEADER: other["token"]})
            assert status == 403
        for _ in range(6):  # round robin: both instances answer through the router
            out = rt.invoke_endpoint(EndpointName="tok", Body=row, ContentType="text/csv")
            assert float(out["Body"].read()) == pytest.approx(
                float(booster.inplace_predict(np.array([[0.3, 0.1, 0.7, 0.2]], dtype=np.float32))[0]), rel=1e-6)
    finally:
        sm.delete_endpoint(EndpointName="tok")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="tok", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_batch_transform_servers_hold_a_token_only_their_client_sends(tmp_path):
    from serving_helpers import XGB_HANDLER, train_tiny_model
    from shipyard.transform.executor import ModelServers

    model_dir = tmp_path / "model"
    booster = train_tiny_model(model_dir)
    servers = ModelServers(["--model-dir", str(model_dir), "--handler", XGB_HANDLER], 2, dict(os.environ),
                           tmp_path, 30.0)
    try:
        assert not list(tmp_path.glob(".token-*"))  # read and removed by each server
        row = b"0.3,0.1,0.7,0.2"
        for port in servers.ports:
            assert _request(port, "POST", "/invocations", row, {"Content-Type": "text/csv"})[0] == 403
        invoke = servers.invoke_factory("text/csv", "text/csv")
        expected = float(booster.inplace_predict(np.array([[0.3, 0.1, 0.7, 0.2]], dtype=np.float32))[0])
        for _ in range(4):  # round robin over both servers
            assert float(invoke(row)) == pytest.approx(expected, rel=1e-6)
    finally:
        servers.stop()
