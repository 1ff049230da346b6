"""Shared pieces of the labeling tests: a tiny PNG, templates, and CreateLabelingJob parameters."""

from __future__ import annotations

import json
import struct
import zlib

ROLE = "arn:aws:iam::123456789012:role/ShipyardLabeling"
LAMBDA = "arn:aws:lambda:us-east-1:432418664414:function:{}-{}"
LABELS = ["cat", "dog", "bird"]

TEMPLATES = {
    "ImageMultiClass": '<crowd-form><crowd-image-classifier name="crowd-image-classifier" '
                       'src="{{ task.input.taskObject | grant_read_access }}" header="{{ task.input.header }}" '
                       'categories="{{ task.input.labels | to_json | escape }}">'
                       '<short-instructions>Pick the animal.</short-instructions></crowd-image-classifier>'
                       '</crowd-form>',
    "BoundingBox": '<crowd-form><crowd-bounding-box name="boundingBox" src="{{ task.input.taskObject | '
                   'grant_read_access }}" header="{{ task.input.header }}" labels="{{ task.input.labels | to_json '
                   '| escape }}"><short-instructions>Box every animal.</short-instructions></crowd-bounding-box>'
                   '</crowd-form>',
    "TextMultiClass": '<crowd-form><crowd-classifier name="sentiment" categories="{{ task.input.labels | to_json '
                      '| escape }}" header="{{ task.input.header }}"><classification-target>{{ task.input.source }}'
                      '</classification-target></crowd-classifier></crowd-form>',
}


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def label_config(labels=LABELS) -> bytes:
    return json.dumps({"document-version": "2018-11-28", "labels": [{"label": x} for x in labels]}).encode()


def job_params(name: str, bucket: str, team_arn: str, task: str = "ImageMultiClass", workers: int = 2,
               time_limit: int = 300, **extra) -> dict:
    """CreateLabelingJob parameters over s3://<bucket>/{manifest,template,labels.json} as the tests upload."""
    params = {
        "LabelingJobName": name, "LabelAttributeName": "animal", "RoleArn": ROLE,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/{name}/input.manifest"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "LabelCategoryConfigS3Uri": f"s3://{bucket}/labels.json",
        "HumanTaskConfig": {
            "WorkteamArn": team_arn,
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/{task}.liquid.html"},
            "PreHumanTaskLambdaArn": LAMBDA.format("PRE", task),
            "TaskTitle": f"Label {name}", "TaskDescription": "Which animal is it?",
            "NumberOfHumanWorkersPerDataObject": workers, "TaskTimeLimitInSeconds": time_limit,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": LAMBDA.format("ACS", task)},
        },
    }
    params.update(extra)
    return params


def team_params(name: str, group: str) -> dict:
    return {"WorkteamName": name, "Description": "labelers", "MemberDefinitions": [{"CognitoMemberDefinition": {
        "UserPool": "us-east-1_shipyard", "UserGroup": group, "ClientId": "shipyard"}}]}
