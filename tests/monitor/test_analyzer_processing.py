"""The processing side of the analyzer: which images run it, and the command the executor launches."""

from __future__ import annotations

import sys

import pytest

from shipyard.processing.program import is_analyzer_image, program_for


@pytest.mark.parametrize("image", [
    "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
    "159807026194.dkr.ecr.us-west-2.amazonaws.com/sagemaker-model-monitor-analyzer:latest",
    "sagemaker-model-monitor-analyzer:1.0",
])
def test_analyzer_images(image):
    assert is_analyzer_image(image)
    assert program_for(image) == {"kind": "analyzer", "image": image}


@pytest.mark.parametrize("image", [
    "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer-extra:1",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
])
def test_other_images_are_not_the_analyzer(image):
    assert not is_analyzer_image(image)


def test_executor_launches_the_analyzer_with_the_job_environment():
    from types import SimpleNamespace

    from shipyard.processing.executor import Executor

    executor = Executor.__new__(Executor)
    executor.req = {"AppSpecification": {"ImageUri": "sagemaker-model-monitor-analyzer"},
                    "Environment": {"dataset_format": '{"csv": {"header": true}}', "output_path": "/x"}}
    executor.job = SimpleNamespace()
    cmd, env = executor.command_for({"kind": "analyzer"}, {"PATH": "/bin"})
    assert cmd == [sys.executable, "-m", "shipyard.monitor.analyzer"]
    assert env["dataset_format"] == '{"csv": {"header": true}}' and env["PATH"] == "/bin"
