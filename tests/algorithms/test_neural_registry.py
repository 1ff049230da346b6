"""The neural built-ins are found by their AWS image names, and one whose extra is missing is refused at
Create time with the install command (not a job that fails minutes later on an ImportError)."""

from __future__ import annotations

import pytest

from shipyard.algorithms.base import Algorithm, Param
from shipyard.algorithms.registry import BUILTINS, resolve
from shipyard.errors import ValidationError

NEURAL = ("lda", "ntm", "blazingtext", "object2vec", "seq2seq", "forecasting-deepar", "image-classification")


@pytest.mark.parametrize("repo", NEURAL)
def test_sdk_image_names_select_the_builtin(repo):
    assert repo in BUILTINS
    image = f"174872318107.dkr.ecr.us-west-2.amazonaws.com/{repo}:1"
    kind, algo = resolve(image, {})
    assert kind == "builtin" and algo is not None
    assert repo in (algo.name, *algo.image_repos)


def test_missing_extra_is_named_at_create_time():
    algo = Algorithm(name="needs-extra", image_repos=("needs-extra",), training_module="x", handler="x:Y",
                     hyperparameters={"epochs": Param("int", default=1)},
                     requires=("shipyard_no_such_module",), extra="torch")
    with pytest.raises(ValidationError) as info:
        algo.check_installed()
    assert "shipyard_no_such_module" in str(info.value)
    assert "pip install 'shipyard[torch]'" in str(info.value)


@pytest.mark.parametrize("repo", ["mxnet-training:1.9.0-cpu-py38", "mxnet-inference:1.9.0-cpu-py38"])
def test_mxnet_is_refused_by_name(repo):
    with pytest.raises(ValidationError, match="MXNet images are not supported.*PyTorch"):
        resolve(f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{repo}", {"sagemaker_program": "train.py"})
