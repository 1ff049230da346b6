"""Framework image URI -> environment spec (pure), the version snapshot, the xgboost shim and the builder's
locking and fallback (with pip kept off the network, so these run anywhere in seconds)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from shipyard.environments import builder, catalog
from shipyard.environments.spec import EnvSpec, check_image, parse_image, spec_for_image
from shipyard.errors import ValidationError
from shipyard.training.script import home_of

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
DLC = "763104351884.dkr.ecr.us-west-2.amazonaws.com"


def test_sklearn_image_maps_to_its_release_and_the_toolkits():
    spec = spec_for_image(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert (spec.framework, spec.version, spec.key) == ("sklearn", "1.2-1", "sklearn-1.2-1")
    assert spec.packages[0] == "scikit-learn==1.2.1"
    assert "numpy<2" in spec.packages
    names = {p.split("<")[0].split("=")[0] for p in spec.packages}
    assert {"sagemaker-training", "sagemaker-inference", "sagemaker-containers"} <= names
    assert spec.dirname.startswith("sklearn-1.2-1-py")
    # another region / account, same image: same environment
    assert spec_for_image("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
                          ).dirname == spec.dirname
    assert spec_for_image(f"{ECR}/sagemaker-scikit-learn:1.0-1-cpu-py3").packages[0] == "scikit-learn==1.0.2"


def test_xgboost_pytorch_tensorflow_huggingface():
    assert spec_for_image(f"{ECR}/sagemaker-xgboost:1.7-1").packages[0] == "xgboost==1.7.6"
    assert spec_for_image("sagemaker-xgboost:1.5-1-cpu-py3").packages[0] == "xgboost==1.5.2"
    full = spec_for_image(f"{DLC}/pytorch-training:2.0.1-cpu-py310")
    alias = spec_for_image(f"{DLC}/pytorch-training:2.0-gpu-py310")  # SDK alias 2.0 -> 2.0.1
    assert full.packages[0] == alias.packages[0] == "torch==2.0.1" and full.dirname == alias.dirname
    assert spec_for_image(f"{DLC}/pytorch-inference:2.1.0-cpu-py310").framework == "pytorch"
    tf = spec_for_image(f"{DLC}/tensorflow-training:2.13.0-cpu-py310-ubuntu20.04-sagemaker")
    assert (tf.key, tf.packages[0]) == ("tensorflow-2.13.0", "tensorflow==2.13.0")
    hf = spec_for_image(f"{DLC}/huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04")
    assert hf.key == "huggingface-4.36.0" and "torch==2.1.0" in hf.packages
    # Shipyard's short names
    assert spec_for_image("sklearn").framework == "sklearn"
    assert spec_for_image("pytorch:2.1").packages[0] == "torch==2.1.0"


def test_images_without_an_environment():
    for image in ("kmeans:1", f"{ECR}/xgboost:1", "xgboost", "python:3.11", "my-own/image:latest",
                  f"{ECR}/linear-learner:1"):
        assert spec_for_image(image) is None, image
        assert check_image(image) is None


@pytest.mark.parametrize("image,listed", [
    ("sagemaker-xgboost:0.1-bad", "1.7-1"),
    (f"{ECR}/sagemaker-scikit-learn:9.9", "1.2-1"),
    (f"{DLC}/pytorch-training:0.0.7-cpu-py3", "2.0.1"),
    (f"{ECR}/sagemaker-scikit-learn:latest", "1.4-2"),
])
def test_unpublished_tags_are_refused_listing_the_valid_versions(image, listed):
    with pytest.raises(ValidationError) as e:
        spec_for_image(image)
    assert listed in e.value.message and image.rsplit(":", 1)[1] in e.value.message


def test_parse_image():
    assert parse_image(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3") == ("sagemaker-scikit-learn", "1.2-1-cpu-py3")
    assert parse_image("sklearn") == ("sagemaker-scikit-learn", "")
    assert parse_image("Pytorch:2.1") == ("pytorch-training", "2.1")


def test_package_changes_give_a_new_folder():
    a = EnvSpec("sklearn", "1.2-1", ("scikit-learn==1.2.1",))
    b = EnvSpec("sklearn", "1.2-1", ("scikit-learn==1.2.1", "pandas"))
    assert a.key == b.key and a.dirname != b.dirname


def test_snapshot_matches_the_sagemaker_sdk():
    sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker SDK (test extra) holds the image list")
    config = Path(sagemaker.__file__).parent / "image_uri_config"
    assert catalog.snapshot_from_sdk(config) == json.loads(catalog.SNAPSHOT.read_text()), (
        "image_versions.json is out of date: python -m shipyard.environments.catalog " + str(config))


def test_home_of_a_job_folder(tmp_path):
    assert home_of(tmp_path / "home" / "runs" / "training" / "job-1") == (tmp_path / "home").resolve()
    assert home_of(tmp_path / "home" / "runs" / "training" / "job-1" / "attempt-1" / "algo-2") == \
        (tmp_path / "home").resolve()
    # a job named "runs" (its attempt folders too) still finds the home, not its own folder
    assert home_of(tmp_path / "home" / "runs" / "training" / "runs" / "attempt-1" / "algo-2") == \
        (tmp_path / "home").resolve()
    assert home_of(tmp_path / "elsewhere") is None


def test_root_follows_the_cache_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("SHIPYARD_ENVIRONMENTS_CACHE", raising=False)
    assert builder.root_for(tmp_path) == tmp_path / "environments"
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS_CACHE", str(tmp_path / "cache"))
    assert builder.root_for(tmp_path) == tmp_path / "cache"


# --- the sagemaker_xgboost_container shim, run against the server's own xgboost -----------------------------
@pytest.fixture
def encoder(monkeypatch):
    pytest.importorskip("xgboost")
    monkeypatch.syspath_prepend(str(Path(builder.SHIM_DIR)))
    for name in [m for m in sys.modules if m.startswith("sagemaker_xgboost_container")]:
        monkeypatch.delitem(sys.modules, name)
    import sagemaker_xgboost_container.encoder as enc

    return enc


def test_shim_decodes_csv_libsvm_and_refuses_others(encoder):
    d = encoder.decode(b"1,2,3\n4,,6\n", "text/csv; charset=utf-8")
    assert (d.num_row(), d.num_col()) == (2, 3)
    d = encoder.csv_to_dmatrix("1\t2\n3\t4")  # delimiter sniffed
    assert (d.num_row(), d.num_col()) == (2, 2)
    d = encoder.decode(b"1 0:1.5 2:3\n0 1:2\n", "text/libsvm")
    assert (d.num_row(), d.num_col()) == (2, 3) and list(d.get_label()) == [1.0, 0.0]
    assert encoder.json_to_jsonlines({"predictions": [{"score": 1}, {"score": 2}]}) == \
        b'{"score": 1}\n{"score": 2}\n'
    with pytest.raises(encoder.UnsupportedFormatError):
        encoder.decode(b"x", "image/png")


# --- builder: lock, fallback, strict ----------------------------------------------------------------------
def test_two_jobs_at_once_build_once(tmp_path, monkeypatch):
    calls = []

    def fake_build(spec, path, log=print):
        calls.append(path)
        time.sleep(0.3)
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").symlink_to(sys.executable)
        (path / builder.READY).write_text(json.dumps(spec.to_json()))

    monkeypatch.setattr(builder, "build", fake_build)
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "auto")
    spec = EnvSpec("sklearn", "1.2-1", ("scikit-learn==1.2.1",), image="x")
    logs: list[list[str]] = [[], []]
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(builder.ensure(spec, tmp_path, logs[i].append)))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert {r.python for r in results} == {str(tmp_path / spec.dirname / "bin" / "python")}
    text = "\n".join(logs[0] + logs[1])
    assert "preparing environment sklearn-1.2-1" in text and "built by another job" in text
    assert "is being built by another job; waiting" in text
    assert builder.list_environments(tmp_path)[0]["state"] == "ready"


def test_unbuildable_environment_falls_back_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip fails at once, network or not
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "auto")
    monkeypatch.setattr(builder.shutil, "which", lambda name: None)  # python -m venv + pip, as without uv
    spec = EnvSpec("sklearn", "0.0-1", ("shipyard-no-such-package==0.0.1",), image="sklearn:0.0-1")
    log: list[str] = []
    got = builder.ensure(spec, tmp_path, log.append)
    assert got.fallback and got.python == sys.executable
    text = "\n".join(log)
    assert "preparing environment sklearn-0.0-1" in text
    assert "WARNING: environment sklearn-0.0-1 could not be built" in text and "falling back" in text
    assert not (tmp_path / spec.dirname).exists()  # no half-built venv left behind
    # not retried at once: the next job falls back quickly, saying why
    log.clear()
    started = time.monotonic()
    assert builder.ensure(spec, tmp_path, log.append).fallback
    assert time.monotonic() - started < 2 and "not retrying" in "\n".join(log)
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "strict")
    with pytest.raises(builder.EnvironmentError_):
        builder.ensure(spec, tmp_path, log.append)
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS", "server")
    assert builder.ensure(spec, tmp_path, log.append).python == sys.executable
