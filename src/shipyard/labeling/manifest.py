"""Input manifests: JSON Lines, one data object per line, each with ``source-ref`` (an S3 URI: an image) or
``source`` (the text itself), as AWS's Ground Truth reads them. Other attributes ride along and are kept in the
output manifest (so a second labeling job can add its label to the first one's output)."""

from __future__ import annotations

import json

from ..errors import ValidationError

FIELD = "InputConfig.DataSource.S3DataSource.ManifestS3Uri"
MAX_OBJECTS = 100_000  # AWS's limit on data objects per labeling job (streaming jobs aside)


def parse_manifest(data: bytes, uri: str, media: str) -> list[dict]:
    """The data objects of a manifest. ``media`` is the task type's (``image`` needs ``source-ref``, ``text``
    needs ``source``). Blank lines are skipped; anything else that is not one JSON object is refused with its
    line number, so the message says what to fix."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{FIELD}: {uri} is not UTF-8 text; a manifest is JSON Lines.") from None
    objects: list[dict] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise ValidationError(f"{FIELD}: {uri} line {n} is not JSON; a manifest is JSON Lines, one object "
                                  "a line, such as {\"source-ref\": \"s3://bucket/image.jpg\"}.") from None
        if not isinstance(obj, dict):
            raise ValidationError(f"{FIELD}: {uri} line {n} is not a JSON object.")
        if "source-ref" not in obj and "source" not in obj:
            raise ValidationError(f"{FIELD}: {uri} line {n} has neither \"source-ref\" nor \"source\".")
        if media == "image":
            ref = obj.get("source-ref")
            if not isinstance(ref, str) or not ref.startswith("s3://"):
                raise ValidationError(f"{FIELD}: {uri} line {n}: an image task needs \"source-ref\" with an "
                                      "s3:// URI.")
        elif "source" not in obj and not isinstance(obj.get("source-ref"), str):
            raise ValidationError(f"{FIELD}: {uri} line {n}: a text task needs \"source\" (the text) or "
                                  "\"source-ref\" (an S3 URI of it).")
        objects.append(obj)
        if len(objects) > MAX_OBJECTS:
            raise ValidationError(f"{FIELD}: {uri} has more than {MAX_OBJECTS} data objects; split it.")
    if not objects:
        raise ValidationError(f"{FIELD}: {uri} has no data objects.")
    return objects
