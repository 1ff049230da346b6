"""SageMaker's Spark processing images (``sagemaker-spark-processing``) -> Shipyard's local Spark.

The SDK's ``PySparkProcessor`` and ``SparkJarProcessor`` name an image of that repository (any version they
emit: ``2.4-cpu``, ``3.1-cpu-py37-v1.0``, ``3.5-cpu-py39-v1.2``...) with ``ContainerEntrypoint``
``["smspark-submit", <options>..., "/opt/ml/processing/input/code/<app>"]``. Here every version maps to one
environment: the server's own Python, where the ``spark`` extra installs ``pyspark`` (a Spark with its jars,
run on the host's Java). The entrypoint's first word maps to a program:

- ``smspark-submit`` -> ``python -m shipyard.processing.spark_submit`` (:mod:`.spark_submit`), with the rest
  of the entrypoint and the ``ContainerArguments`` after it;
- ``python``/``python3`` (a ``ScriptProcessor`` on the Spark image) -> that same Python, which imports pyspark;
- anything else (``smspark-history-server``...) is refused (:func:`check_entrypoint`, a ValidationException).

A job whose image asks for another Spark version than the installed pyspark runs on the installed one; its log
says so (:func:`version_note`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

from ..environments.image_uri import repository_and_tag
from ..errors import ValidationError

REPOSITORY = "sagemaker-spark-processing"
SUBMIT = "smspark-submit"
MODULE = "shipyard.processing.spark_submit"
_PYTHON = re.compile(r"^python(?:\d+(?:\.\d+)?)?$")
SETUP_HINT = "python scripts/spark_setup.py (Java) and pip install 'shipyard[spark]' (pyspark)"


def is_spark_image(image: str) -> bool:
    """Whether ``image`` is one of SageMaker's Spark processing images (any account, region, registry, tag)."""
    return bool(image) and repository_and_tag(image)[0] == REPOSITORY


def _program(word: str) -> str:
    return os.path.basename(word)


def check_machine(image: str) -> None:
    """At CreateProcessingJob: this machine has what a Spark job needs (pyspark and Java); a
    ValidationError says what to install otherwise."""
    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("the pyspark package")
    if not _java_available():
        missing.append("a Java runtime (17 or later)")
    if missing:
        raise ValidationError(
            f"AppSpecification.ImageUri {image!r}: Spark processing jobs need {' and '.join(missing)} on the "
            f"server's machine; install them with {SETUP_HINT}.")


def check_entrypoint(image: str, entrypoint: list[str]) -> None:
    """At CreateProcessingJob: the entrypoint is one this Shipyard runs on a Spark image (ValidationError)."""
    first = _program(entrypoint[0]) if entrypoint else ""
    if first != SUBMIT and not _PYTHON.match(first):
        raise ValidationError(
            f"AppSpecification.ContainerEntrypoint {entrypoint!r}: on image {image!r} Shipyard runs "
            f"{SUBMIT!r} (what PySparkProcessor and SparkJarProcessor send) or python; start the entrypoint "
            "with one of them.")


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(home and (Path(home) / "bin" / "java").exists()) or shutil.which("java") is not None


def command(entrypoint: list[str], arguments: list[str], python: str = sys.executable) -> list[str]:
    """The host command for a Spark image's entrypoint and arguments (see the module docstring)."""
    if not entrypoint:
        raise ValueError("a Spark image's job needs a ContainerEntrypoint")
    first, rest = _program(entrypoint[0]), list(entrypoint[1:])
    if first == SUBMIT:
        return [python, "-m", MODULE, *rest, *arguments]
    if _PYTHON.match(first):
        return [python, *rest, *arguments]
    raise ValueError(f"a Spark image's entrypoint must start with {SUBMIT} or python, not {entrypoint[0]!r}")


def version_note(image: str) -> str:
    """What the job's log says about the Spark it gets: the image's version next to the installed one."""
    _, tag = repository_and_tag(image)
    wanted = tag.split("-")[0] if tag else ""
    try:
        from importlib.metadata import version

        installed = version("pyspark")
    except Exception:  # noqa: BLE001 - not installed: the job fails with smspark-submit's own message
        installed = "not installed"
    asked = f"the image's Spark {wanted}" if wanted else "the image"
    return f"Spark processing image: {asked} runs on the installed pyspark {installed} in local mode"
