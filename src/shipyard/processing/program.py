"""Which program runs a processing job's ``AppSpecification.ImageUri``: the one decision, in one place.

- a framework image (the SageMaker SDK's ``SKLearnProcessor``, ``XGBoostProcessor``, ``PyTorchProcessor``,
  ``FrameworkProcessor``..., any repository AWS publishes framework containers under, see
  :mod:`shipyard.environments.catalog`) -> ``{"kind": "script"}``: the ``ContainerEntrypoint`` runs on the
  host, in the job's sandbox (``/opt/ml`` its folder), with the image's Python environment first on ``PATH``
  (``python3``/``python``/``pip`` are the environment's), exactly as training's script mode picks it;
- a Spark processing image (``sagemaker-spark-processing``, the SDK's ``PySparkProcessor``) -> ``{"kind":
  "spark"}``: ``smspark-submit`` runs on a local Spark (:mod:`.spark_image`, :mod:`.spark_submit`).
- the model-monitor analyzer image (``sagemaker-model-monitor-analyzer``, any account, region or tag: the SDK's
  ``DefaultModelMonitor``/``ModelQualityMonitor`` and monitoring schedules) -> ``{"kind": "analyzer"}``:
  :mod:`shipyard.monitor.analyzer` runs on this Python, in the job's sandbox;
- Data Wrangler's image (``sagemaker-data-wrangler-container``, a flow exported to a processing job) ->
  ``{"kind": "wrangler"}``: :mod:`shipyard.wrangle.job` runs the flow on this Python, in the job's sandbox;
- the Debugger rule evaluator (``sagemaker-debugger-rules``, the rule jobs beside a training job) ->
  ``{"kind": "debugrule"}``: :mod:`shipyard.debugger.rule_job` runs on this Python, in the job's sandbox;
- anything else that is an ECR URI or an image of the local container engine -> ``{"kind": "container"}``:
  the image runs on the container engine with the job folder mounted at ``/opt/ml``;
- otherwise a ValidationException saying what is accepted.

A new program kind is a branch added to :func:`program_for` and a launcher in the executor
(:meth:`processing.executor.Executor.command_for`).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError

# The repository AWS publishes Model Monitor's analyzer under (sagemaker.image_uris.retrieve("model-monitor", ...))
ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"
_ANALYZER = re.compile(r"(?:^|/)" + re.escape(ANALYZER_REPOSITORY) + r"(?::[^/@]*)?(?:@sha256:[0-9a-f]+)?$")

# Repositories that are framework images without a catalog entry (the SDK's FRAMEWORK_REPOS has them too).
EXTRA_FRAMEWORK_REPOS = {"python": "python", "sklearn": "sklearn"}


def framework_of(image: str) -> str | None:
    """The framework an image URI names (``sklearn``, ``xgboost``, ``pytorch``...), None for other images.
    A framework repository with a tag AWS never published raises ValidationError (listing the valid ones)."""
    from ..environments import catalog
    from ..environments.spec import check_image, parse_image

    repo, _ = parse_image(image)
    framework = catalog.framework(repo)
    if framework is not None:
        check_image(image)
        return framework
    return EXTRA_FRAMEWORK_REPOS.get(repo)


def is_analyzer_image(image: str) -> bool:
    """Whether ``image`` is Model Monitor's analyzer (``<account>.dkr.ecr.<region>.amazonaws.com/
    sagemaker-model-monitor-analyzer[:tag]``, or the bare repository name)."""
    return bool(_ANALYZER.search(image.strip()))


def program_for(image: str) -> dict[str, Any]:
    """The program of a processing job whose image is ``image`` (see the module docstring)."""
    if not image:
        raise ValidationError("AppSpecification.ImageUri must name an image.")
    if is_analyzer_image(image):  # DefaultModelMonitor / ModelQualityMonitor: shipyard.monitor.analyzer
        return {"kind": "analyzer", "image": image}
    from ..debugger.images import is_rule_image

    if is_rule_image(image):  # AWS's Debugger rule evaluator: shipyard.debugger.rule_job runs the built-in rule
        return {"kind": "debugrule", "image": image}
    from ..wrangle.image import is_wrangler_image

    if is_wrangler_image(image):  # Data Wrangler's container: a .flow run by shipyard.wrangle.job
        return {"kind": "wrangler", "image": image}
    from . import spark_image

    if spark_image.is_spark_image(image):  # PySparkProcessor / SparkJarProcessor: a local Spark
        spark_image.check_machine(image)
        return {"kind": "spark", "image": image}
    framework = framework_of(image)
    if framework is not None:
        return {"kind": "script", "framework": framework, "image": image}
    from ..algorithms.registry import is_container_image

    if is_container_image(image):
        from ..containers.images import ImageUnavailable, engine_for_jobs

        try:
            engine_for_jobs()
        except ImageUnavailable as e:
            raise ValidationError(f"AppSpecification.ImageUri {image!r}: {e}") from None
        return {"kind": "container", "image": image}
    raise ValidationError(
        f"AppSpecification.ImageUri {image!r} is not a framework image (the SageMaker SDK's SKLearnProcessor, "
        "XGBoostProcessor, PyTorchProcessor... images), an ECR image URI "
        "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>) or an image of the local container engine.")
