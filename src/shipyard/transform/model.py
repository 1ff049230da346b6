"""Put a SageMaker Model's artifacts on local disk and say how the model server should load them.

A container names a built-in algorithm by its image, or the user's inference script by ``SAGEMAKER_PROGRAM``
(with the code in ``SAGEMAKER_SUBMIT_DIRECTORY``: an S3 ``sourcedir.tar.gz`` or ``/opt/ml/model/code``).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from ..algorithms.registry import builtin_for_image
from ..errors import ValidationError
from ..objectstore.base import ObjectStore, parse_s3_uri


def _extract(store: ObjectStore, uri: str, dest: Path) -> None:
    bucket, key = parse_s3_uri(uri)
    dest.mkdir(parents=True, exist_ok=True)
    if key.endswith((".tar.gz", ".tgz")):
        archive = dest.parent / (dest.name + ".tar.gz")
        store.download_file(bucket, key, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        archive.unlink()
    else:
        store.download_uri(uri if uri.endswith("/") else uri + "/", dest)


def prepare_container(store: ObjectStore, container: dict, dest: Path) -> list[str]:
    """Download and unpack the container's model; return the model-server arguments that load it."""
    model_dir = dest / "model"
    if container.get("ModelDataUrl"):
        _extract(store, container["ModelDataUrl"], model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    env = container.get("Environment") or {}
    program = env.get("SAGEMAKER_PROGRAM")
    if program:
        code_dir = model_dir / "code"
        submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if submit.startswith("s3://"):
            code_dir = dest / "code"
            _extract(store, submit, code_dir)
        return ["--model-dir", str(model_dir), "--script-program", program, "--code-dir", str(code_dir)]
    algo = builtin_for_image(container.get("Image", ""))
    if algo is None:
        raise ValidationError(f"Image {container.get('Image')!r} is not a built-in algorithm and the model names no "
                              "inference script (set SAGEMAKER_PROGRAM in the container's Environment).")
    return ["--model-dir", str(model_dir), "--handler", algo.handler]


def primary_container(model_doc: dict) -> dict:
    if model_doc.get("PrimaryContainer"):
        return model_doc["PrimaryContainer"]
    containers = model_doc.get("Containers") or []
    if not containers:
        raise ValidationError(f"Model {model_doc.get('ModelName')} has no container.")
    return containers[0]
