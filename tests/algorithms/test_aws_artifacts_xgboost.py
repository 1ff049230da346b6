"""XGBoost models in every form SageMaker's XGBoost containers write, served through real endpoints, and the
text/csv layouts of the images' versions."""

from __future__ import annotations

import csv
import io
import json
import pickle
import struct
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosting"))
from hosting_helpers import tarball, upload, wait_in_service, wait_until  # noqa: E402

from shipyard.algorithms.xgboost import legacy_binary, model_formats  # noqa: E402
from shipyard.algorithms.xgboost.handler import XGBoostHandler, csv_style, encode_csv, image_tag  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{}"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ROWS = np.array([[0.3, 0.1, 0.7, 0.2], [0.9, 0.5, 0.1, 0.4], [0.05, 0.2, 0.2, 0.2]], dtype=np.float32)


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.random((200, 4))
    return xgb.train({"max_depth": 3}, xgb.DMatrix(X, X[:, 0] * 3.0), 10)


def _joblib(obj, compress=0) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=compress)
    return buf.getvalue()


def _forms(b: xgb.Booster) -> dict[str, bytes]:
    reg = xgb.XGBRegressor()
    reg.load_model(bytearray(b.save_raw("ubj")))  # a fitted sklearn wrapper around the same trees
    return {
        "ubj": bytes(b.save_raw("ubj")),
        "json": bytes(b.save_raw("json")),
        "pickle": pickle.dumps(b, protocol=2),
        "joblib-zlib": _joblib(b, compress=3),
        "sklearn-pickle": pickle.dumps(reg),
    }


def legacy_bytes(booster, objective_name=None, header=True, base_score=None):
    """xgboost 0.90's binary layout (learner.cc / gbtree_model.h / tree_model.h of 0.90), written field by
    field from a current booster's JSON dump: what xgboost < 1.0 saved and pickled."""
    d = json.loads(bytes(booster.save_raw("json")))
    learner = d["learner"]
    lmp = learner["learner_model_param"]
    values = {float(v) for v in lmp["base_score"].strip("[]").split(",")}
    assert len(values) == 1, "0.90 models have one base_score"
    bs = values.pop() if base_score is None else base_score
    bs = legacy_binary.prob_to_margin(learner["objective"]["name"], bs)  # 0.90 stored the margin
    num_class, num_feature = int(lmp["num_class"]), int(lmp["num_feature"])
    obj = objective_name or learner["objective"]["name"]
    out = b"binf" if header else b""
    out += struct.pack("<fIiii", bs, num_feature, num_class, 0, 0) + bytes(136 - 20)
    for text in (obj, "gbtree"):
        out += struct.pack("<Q", len(text)) + text.encode()
    m = learner["gradient_booster"]["model"]
    trees = m["trees"]
    out += struct.pack("<iiiiqii", len(trees), 1, num_feature, 0, 0, max(num_class, 1), 0) + bytes(160 - 32)
    for t in trees:
        n = len(t["left_children"])
        out += struct.pack("<iiiiii", 1, n, 0, 0, num_feature, 0) + bytes(148 - 24)
        for i in range(n):
            p = t["parents"][i]
            parent = -1 if p == 2147483647 else p | ((1 << 31) if t["left_children"][p] == i else 0)
            sidx = t["split_indices"][i] | ((1 << 31) if t["default_left"][i] else 0)
            out += struct.pack("<iiiIf", parent if parent < (1 << 31) else parent - (1 << 32),
                               t["left_children"][i], t["right_children"][i], sidx, t["split_conditions"][i])
        for i in range(n):
            out += struct.pack("<fffi", t["loss_changes"][i], t["sum_hessian"][i], t["base_weights"][i], 0)
    out += struct.pack(f"<{len(trees)}i", *m["tree_info"])
    return out


class Pickled090Booster:
    """Pickles as xgboost 0.90's Booster did: the class xgboost.core.Booster with state {"handle": the legacy
    binary model}."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def __reduce_ex__(self, proto):
        return (object.__new__, (xgb.core.Booster,), {"handle": bytearray(self.raw), "feature_names": None})


# ------------------------------------------------------------------ loading, without a server
@pytest.mark.parametrize("form", ["ubj", "json", "pickle", "joblib-zlib", "sklearn-pickle"])
def test_each_form_loads_by_sniffing_not_by_name(form, booster, tmp_path):
    data = _forms(booster)[form]
    expected = {"sklearn-pickle": "pickle"}.get(form, form)
    assert model_formats.sniff(data) == expected
    (tmp_path / "model.anything").write_bytes(data)  # not named xgboost-model
    loaded = model_formats.load_booster(tmp_path)
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(ROWS)), booster.predict(xgb.DMatrix(ROWS)), rtol=1e-6)


def test_present_but_corrupt_model_says_why(tmp_path, booster):
    raw = bytes(booster.save_raw("json"))
    (tmp_path / "xgboost-model").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValidationError) as e:
        model_formats.load_booster(tmp_path)
    msg = e.value.message
    assert "Could not load XGBoost model xgboost-model (JSON" in msg and "No XGBoost model found" not in msg


def test_pickle_of_something_else_is_named(tmp_path):
    (tmp_path / "xgboost-model").write_bytes(pickle.dumps({"not": "a booster"}))
    with pytest.raises(ValidationError, match="pickle of a builtins.dict, not an xgboost Booster"):
        model_formats.load_booster(tmp_path)


def test_truncated_pickle_is_reported_as_pickle(tmp_path, booster):
    (tmp_path / "xgboost-model").write_bytes(pickle.dumps(booster)[:200])
    with pytest.raises(ValidationError, match=r"xgboost-model \(pickle, 200 bytes\)"):
        model_formats.load_booster(tmp_path)


def test_truncated_legacy_binary_is_recognised_and_explained(tmp_path):
    # the pre-1.0 layout: LearnerModelParam (136 bytes) then the objective's name as a length-prefixed string
    param = struct.pack("<fIii", 0.5, 4, 0, 0) + bytes(136 - 16)
    legacy = param + struct.pack("<Q", 10) + b"reg:linear" + struct.pack("<Q", 6) + b"gbtree" + bytes(64)
    assert model_formats.sniff(legacy) == "legacy-binary"
    assert model_formats.sniff(b"binf" + legacy) == "legacy-binary"
    (tmp_path / "xgboost-model").write_bytes(b"binf" + legacy)
    with pytest.raises(ValidationError, match=r"\(legacy binary, .*legacy binary format: truncated"):
        model_formats.load_booster(tmp_path)


@pytest.mark.parametrize("params, objective_name", [
    ({"max_depth": 3}, "reg:linear"),
    ({"objective": "binary:logistic", "max_depth": 3}, None),
    ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "base_score": 0.5}, None),
    ({"objective": "count:poisson", "max_depth": 2}, None),
])
def test_legacy_binary_models_convert_and_predict_the_same(params, objective_name, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = {"binary:logistic": (X[:, 0] > 0.5) * 1.0, "multi:softprob": np.floor(X[:, 0] * 3),
         "count:poisson": np.round(X[:, 0] * 5)}.get(params.get("objective"), X[:, 0] * 3)
    b = xgb.train(params, xgb.DMatrix(X, y), 6)
    expected = b.predict(xgb.DMatrix(X))
    for i, data in enumerate([legacy_bytes(b, objective_name), legacy_bytes(b, objective_name, header=False),
                              pickle.dumps(Pickled090Booster(legacy_bytes(b, objective_name, header=False)),
                                           protocol=2)]):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "xgboost-model").write_bytes(data)
        loaded = model_formats.load_booster(folder)
        np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)), expected, rtol=1e-6, atol=1e-7)


def test_sklearn_wrapper_and_joblib_pickled_by_090(tmp_path, booster):
    raw = legacy_bytes(booster, "reg:linear", header=False)
    wrapper = xgb.XGBRegressor()
    wrapper.__dict__["_Booster"] = Pickled090Booster(raw)
    for name, data in [("sk", pickle.dumps(wrapper, protocol=2)), ("jl", _joblib(Pickled090Booster(raw), 3))]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "xgboost-model").write_bytes(data)
        np.testing.assert_allclose(model_formats.load_booster(tmp_path / name).predict(xgb.DMatrix(ROWS)),
                                   booster.predict(xgb.DMatrix(ROWS)), rtol=1e-6)


def test_no_model_lists_what_was_tried(tmp_path):
    (tmp_path / "README").write_bytes(b"hello")
    with pytest.raises(ValidationError, match="No XGBoost model found.*README: not a model"):
        model_formats.load_booster(tmp_path)


# ------------------------------------------------------------------ CSV layouts per image version
def test_image_tags_pick_the_csv_layout():
    assert image_tag(IMAGE.format("0.90-2-cpu-py3")) == "0.90-2-cpu-py3"
    assert image_tag("repo@sha256:abc") == "" and image_tag("localhost:5000/xgb") == ""
    for tag in ("1", "latest", "0.90-1", "0.90-2-cpu-py3", "1.0-1", "1.2-2"):
        assert csv_style(IMAGE.format(tag), False) == "comma", tag
    for tag in ("1.3-1", "1.5-1", "1.7-1", "2.0-1"):
        assert csv_style(IMAGE.format(tag), False) == "lines", tag
    assert csv_style("", False) == "lines"
    assert csv_style(IMAGE.format("0.90-2"), True) == "comma-batch"
    assert csv_style(IMAGE.format("1.7-1"), True) == "lines-batch"


def test_encode_csv_layouts():
    one = np.array([0.5, 0.25, 1.0], dtype=np.float32)
    multi = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    assert encode_csv(one, "comma") == b"0.5,0.25,1.0"
    assert encode_csv(one, "lines") == b"0.5\n0.25\n1.0"
    assert encode_csv(one, "comma-batch") == encode_csv(one, "lines-batch") == b"0.5\n0.25\n1.0\n"
    assert encode_csv(multi, "comma") == b"[0.25, 0.75],[0.5, 0.5]"
    assert encode_csv(multi, "comma-batch") == b"[0.25, 0.75]\n[0.5, 0.5]\n"
    assert encode_csv(multi, "lines") == b"0.25,0.75\n0.5,0.5"


def test_handler_reads_image_and_batch_from_environment(monkeypatch, tmp_path, booster):
    (tmp_path / "xgboost-model").write_bytes(bytes(booster.save_raw("ubj")))
    body = "\n".join(",".join(str(v) for v in r) for r in ROWS.tolist()).encode()
    expected = booster.predict(xgb.DMatrix(ROWS))
    monkeypatch.setenv("SHIPYARD_IMAGE", IMAGE.format("0.90-2"))
    out, ctype = XGBoostHandler(str(tmp_path)).invoke(body, "text/csv", "text/csv")
    assert ctype == "text/csv" and b"\n" not in out
    np.testing.assert_allclose([float(x) for x in out.split(b",")], expected, rtol=1e-6)
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")
    out, _ = XGBoostHandler(str(tmp_path)).invoke(body, "text/csv", "text/csv")
    assert out.endswith(b"\n") and len(out.decode().splitlines()) == 3


# ------------------------------------------------------------------ through real endpoints
def _deploy(server, name: str, files: dict[str, bytes], tag: str = "1.7-1"):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    url = upload(s3, "aws-artifacts-xgb", f"{name}/model.tar.gz", tarball(files))
    sm.create_model(ModelName=name, PrimaryContainer={"Image": IMAGE.format(tag), "ModelDataUrl": url},
                    ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _delete(server, name: str):
    sm = server.client("sagemaker")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _csv_body() -> bytes:
    return "\n".join(",".join(str(v) for v in r) for r in ROWS.tolist()).encode()


def test_every_form_serves_through_an_endpoint(server, booster):
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    forms = _forms(booster)
    forms["pickle-090"] = pickle.dumps(Pickled090Booster(legacy_bytes(booster, "reg:linear", header=False)),
                                       protocol=2)
    names = {form: f"xgb-form-{form}" for form in ("json", "pickle", "joblib-zlib", "sklearn-pickle",
                                                     "pickle-090")}
    for form, name in names.items():
        # the JSON one under another file name: the container loads whatever file the archive holds
        _deploy(server, name, {"model.json" if form == "json" else "xgboost-model": forms[form]})
    expected = booster.predict(xgb.DMatrix(ROWS))
    try:
        for form, name in names.items():
            wait_in_service(sm, name, 120)
            r = rt.invoke_endpoint(EndpointName=name, Body=_csv_body(), ContentType="text/csv", Accept="text/csv")
            got = [float(x) for x in r["Body"].read().decode().splitlines()]
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=form)
    finally:
        for name in names.values():
            _delete(server, name)


def test_corrupt_model_fails_the_endpoint_with_the_reason(server, booster):
    sm = server.client("sagemaker")
    raw = pickle.dumps(booster)
    _deploy(server, "xgb-corrupt", {"xgboost-model": raw[: len(raw) // 3]})
    d = wait_until(lambda: (x := sm.describe_endpoint(EndpointName="xgb-corrupt"))["EndpointStatus"] == "Failed"
                   and x, 120, what="Failed")
    assert "Could not load XGBoost model xgboost-model (pickle" in d["FailureReason"], d["FailureReason"]
    assert "No XGBoost model found" not in d["FailureReason"]
    _delete(server, "xgb-corrupt")


def test_old_image_answers_one_comma_separated_line(server, booster):
    """A 0.90-2 image answers "p1,p2,p3" (SageMaker's serve.py joins with commas); the SDK's CSVDeserializer
    still reads it."""
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    old = pickle.dumps(Pickled090Booster(legacy_bytes(booster, "reg:linear", header=False)), protocol=2)
    _deploy(server, "xgb-090", {"xgboost-model": old}, tag="0.90-2-cpu-py3")
    try:
        wait_in_service(sm, "xgb-090", 120)
        r = rt.invoke_endpoint(EndpointName="xgb-090", Body=_csv_body(), ContentType="text/csv")
        text = r["Body"].read().decode()
        assert "\n" not in text and r["ContentType"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(text)))  # what sagemaker.deserializers.CSVDeserializer does
        np.testing.assert_allclose([float(x) for x in rows[0]], booster.predict(xgb.DMatrix(ROWS)), rtol=1e-6)
        try:
            from sagemaker.deserializers import CSVDeserializer
        except ImportError:
            return
        parsed = CSVDeserializer().deserialize(io.BytesIO(text.encode()), "text/csv")
        assert len(parsed) == 1 and len(parsed[0]) == len(ROWS)
    finally:
        _delete(server, "xgb-090")


def test_invocation_of_unsupported_accept_still_errors(server, booster):
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    _deploy(server, "xgb-accept", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    try:
        wait_in_service(sm, "xgb-accept", 120)
        with pytest.raises(ClientError) as e:
            rt.invoke_endpoint(EndpointName="xgb-accept", Body=_csv_body(), ContentType="text/csv",
                               Accept="image/png")
        assert "Accept type image/png is not supported" in str(e.value)
    finally:
        _delete(server, "xgb-accept")
