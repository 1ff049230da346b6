"""``shipyard images list|prepare|prune`` on a temporary environments folder (builds faked: the real build is
covered by test_sklearn_environment)."""

from __future__ import annotations

import json
import sys

import pytest

from shipyard import cli
from shipyard.environments import builder
from shipyard.environments.spec import spec_for_image

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_ENVIRONMENTS_CACHE", str(tmp_path / "envs"))
    built = []

    def fake_build(spec, path, log=print):
        built.append(spec.key)
        log(f"installing {' '.join(spec.packages)}")
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").symlink_to(sys.executable)
        (path / builder.READY).write_text(json.dumps(spec.to_json()))

    monkeypatch.setattr(builder, "build", fake_build)
    return tmp_path / "envs", built


def test_prepare_list_and_prune(root, capsys):
    root, built = root
    assert cli.main(["images", "prepare", IMAGE]) == 0
    out = capsys.readouterr().out
    assert "preparing environment sklearn-1.2-1" in out and "scikit-learn==1.2.1" in out
    assert cli.main(["images", "prepare", IMAGE]) == 0  # already built: not again
    assert "(already built)" in capsys.readouterr().out and built == ["sklearn-1.2-1"]

    assert cli.main(["images", "list"]) == 0
    out = capsys.readouterr().out
    assert "sklearn-1.2-1" in out and "ready" in out and "scikit-learn==1.2.1" in out
    assert cli.main(["images", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == ["sklearn-1.2-1"]

    # a half-built folder and one whose image now maps to other packages are pruned; the current one stays
    (root / "xgboost-1.7-1-py311-deadbeef").mkdir()
    stale = root / "sklearn-1.2-1-py311-00000000"
    stale.mkdir()
    (stale / builder.READY).write_text(json.dumps({**spec_for_image(IMAGE).to_json()}))
    (stale / "bin").mkdir()
    assert cli.main(["images", "prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove xgboost-1.7-1-py311-deadbeef" in out and "would remove sklearn-1.2-1-py311-00000000" in out
    assert stale.exists()
    assert cli.main(["images", "prune"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [spec_for_image(IMAGE).dirname]
    assert cli.main(["images", "prune", "--all"]) == 0
    assert "removing sklearn-1.2-1" in capsys.readouterr().out
    assert not [p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")]


def test_prepare_refuses_bad_tags_and_non_framework_images(root, capsys):
    root, built = root
    assert cli.main(["images", "prepare", "sagemaker-xgboost:0.1-bad"]) == 1
    err = capsys.readouterr().err
    assert "0.1-bad" in err and "1.7-1" in err
    assert cli.main(["images", "prepare", "kmeans:1"]) == 1
    assert "not a framework image" in capsys.readouterr().err
    assert built == []
