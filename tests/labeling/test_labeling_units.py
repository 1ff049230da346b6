"""The pure labeling rules: manifests, templates and Lambda ARNs, consolidation, the output layout."""

from __future__ import annotations

import json

import pytest

from shipyard.errors import ValidationError
from shipyard.labeling import output
from shipyard.labeling.consolidation import cluster_boxes, iou, validate_answer, vote_class, vote_entities, \
    vote_multilabel
from shipyard.labeling.manifest import parse_manifest
from shipyard.labeling.prelabel import starting_answer
from shipyard.labeling.tasks import TASK_TYPES, from_lambda, parse_label_categories, parse_template

LABELS = ["cat", "dog", "bird"]
IMG = TASK_TYPES["ImageMultiClass"]
BOX = TASK_TYPES["BoundingBox"]
NER = TASK_TYPES["NamedEntityRecognition"]
MULTI = TASK_TYPES["ImageMultiClassMultiLabel"]

AWS_BOX_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-bounding-box name="boundingBox" src="{{ task.input.taskObject | grant_read_access }}"
    header="{{ task.input.header }}" labels="{{ task.input.labels | to_json | escape }}">
    <full-instructions header="Bounding box instructions"><p>Draw a <b>tight</b> box.</p></full-instructions>
    <short-instructions><p>Box every animal.</p></short-instructions>
  </crowd-bounding-box>
</crowd-form>"""


def test_manifest_lines_and_refusals_name_the_field_and_line():
    objs = parse_manifest(b'{"source-ref": "s3://b/a.jpg", "x": 1}\n\n{"source-ref": "s3://b/b.jpg"}\n',
                          "s3://b/m", "image")
    assert [o["source-ref"] for o in objs] == ["s3://b/a.jpg", "s3://b/b.jpg"] and objs[0]["x"] == 1
    for body, words in ((b'{"source-ref": "s3://b/a.jpg"}\nnot json\n', "line 2 is not JSON"),
                        (b'[1, 2]\n', "line 1 is not a JSON object"),
                        (b'{"other": 1}\n', 'neither "source-ref" nor "source"'),
                        (b'{"source": "text"}\n', "image task needs"),
                        (b"\n\n", "no data objects")):
        with pytest.raises(ValidationError) as info:
            parse_manifest(body, "s3://b/m", "image")
        assert "InputConfig.DataSource.S3DataSource.ManifestS3Uri" in info.value.message
        assert words in info.value.message
    assert parse_manifest(b'{"source": "hello"}', "s3://b/m", "text") == [{"source": "hello"}]


def test_lambda_arns_map_to_task_types_and_unknown_ones_are_refused():
    arn = "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
    assert from_lambda(arn, "PRE-", "F") is BOX
    assert from_lambda(arn.replace("PRE-", "ACS-"), "ACS-", "F") is BOX
    with pytest.raises(ValidationError) as info:
        from_lambda("arn:aws:lambda:us-east-1:123456789012:function:my-own", "PRE-", "HumanTaskConfig.X")
    assert "HumanTaskConfig.X" in info.value.message and "PRE-ImageMultiClass" in info.value.message


def test_template_subset_reads_element_labels_header_and_instructions():
    t = parse_template(AWS_BOX_TEMPLATE, LABELS, "Find animals")
    assert t.task is BOX and t.name == "boundingBox" and t.labels == LABELS and t.header == "Find animals"
    assert t.short_instructions == "Box every animal." and "tight" in t.full_instructions
    literal = parse_template('<crowd-classifier name="sentiment" categories=\'["pos", "neg"]\' header="How?">'
                             '</crowd-classifier>', [], "")
    assert literal.task is TASK_TYPES["TextMultiClass"] and literal.labels == ["pos", "neg"]
    assert literal.header == "How?"
    assert parse_template("<crowd-entity-annotation name='crowd-entity-annotation' "
                          "labels='[{\"label\": \"PER\"}, {\"label\": \"LOC\"}]'>", [], "").labels == ["PER", "LOC"]


@pytest.mark.parametrize("template,words", [
    ("<crowd-form><crowd-keypoint name='k'></crowd-keypoint></crowd-form>", "no built-in task element (it has "
                                                                            "crowd-keypoint)"),
    ("<p>nothing</p>", "no built-in task element"),
    ("<crowd-classifier categories='[\"a\"]'></crowd-classifier><crowd-bounding-box labels='[\"a\"]'>",
     "several task elements"),
])
def test_unknown_templates_are_refused_naming_the_field(template, words):
    with pytest.raises(ValidationError) as info:
        parse_template(template, ["a"], "")
    assert info.value.message.startswith("HumanTaskConfig.UiConfig") and words in info.value.message


def test_a_template_without_labels_is_refused_naming_the_label_config():
    with pytest.raises(ValidationError) as info:
        parse_template(AWS_BOX_TEMPLATE, [], "")
    assert "LabelCategoryConfigS3Uri" in info.value.message


def test_label_category_config():
    labels, header = parse_label_categories(json.dumps({"document-version": "2018-11-28", "labels": [
        {"label": "cat"}, {"label": "dog"}], "instructions": {"shortInstruction": "Pick one"}}).encode())
    assert labels == ["cat", "dog"] and header == "Pick one"
    with pytest.raises(ValidationError, match="LabelCategoryConfigS3Uri"):
        parse_label_categories(b"{not json")
    with pytest.raises(ValidationError, match="non-empty"):
        parse_label_categories(b'{"labels": []}')


def test_answers_are_validated_against_labels_and_shapes():
    assert validate_answer(IMG, LABELS, {"label": "dog"}) == {"label": "dog"}
    assert validate_answer(MULTI, LABELS, {"labels": ["bird", "cat", "cat"]}) == {"labels": ["cat", "bird"]}
    with pytest.raises(ValidationError, match="not one of the job's labels"):
        validate_answer(IMG, LABELS, {"label": "cow"})
    with pytest.raises(ValidationError, match="width"):
        validate_answer(BOX, LABELS, {"boundingBoxes": [{"label": "cat", "left": 1, "top": 1, "width": 0,
                                                         "height": 5}]})
    with pytest.raises(ValidationError, match="startOffset"):
        validate_answer(NER, LABELS, {"entities": [{"label": "cat", "startOffset": 5, "endOffset": 5}]})


def test_majority_vote_with_confidence_and_deterministic_ties():
    answers = [{"label": "dog"}, {"label": "cat"}, {"label": "dog"}]
    assert vote_class(answers, LABELS) == ("dog", 0.67)
    assert vote_class([{"label": "dog"}, {"label": "cat"}], LABELS) == ("cat", 0.5)  # tie: first listed
    multi = [{"labels": ["cat", "bird"]}, {"labels": ["cat"]}, {"labels": ["bird", "dog"]}]
    assert vote_multilabel(multi, LABELS) == [("cat", 0.67), ("bird", 0.67)]


def test_boxes_are_clustered_by_iou_and_averaged():
    a = {"boundingBoxes": [{"label": "cat", "left": 10, "top": 10, "width": 100, "height": 100},
                           {"label": "dog", "left": 300, "top": 300, "width": 50, "height": 50}]}
    b = {"boundingBoxes": [{"label": "cat", "left": 14, "top": 10, "width": 100, "height": 96}]}
    c = {"boundingBoxes": [{"label": "cat", "left": 12, "top": 12, "width": 100, "height": 100},
                           {"label": "dog", "left": 600, "top": 10, "width": 20, "height": 20}]}
    clusters = cluster_boxes([a, b, c])
    assert [lab for lab, _, _ in clusters] == ["cat"]  # the dogs were each drawn by one worker of three
    label, box, confidence = clusters[0]
    assert box == {"left": 12, "top": 11, "width": 100, "height": 99}
    assert 0.9 < confidence <= 1.0
    # two workers: a box drawn by one of them is kept (half), with half the confidence
    two = cluster_boxes([a, b])
    assert sorted(lab for lab, _, _ in two) == ["cat", "dog"]
    assert dict((lab, c) for lab, _, c in two)["dog"] == 0.5
    assert iou({"left": 0, "top": 0, "width": 10, "height": 10}, {"left": 5, "top": 0, "width": 10,
                                                                   "height": 10}) == pytest.approx(1 / 3)


def test_entities_by_span_vote():
    a = {"entities": [{"label": "cat", "startOffset": 0, "endOffset": 4}, {"label": "dog", "startOffset": 9,
                                                                           "endOffset": 12}]}
    b = {"entities": [{"label": "cat", "startOffset": 0, "endOffset": 4}]}
    c = {"entities": [{"label": "cat", "startOffset": 0, "endOffset": 5}]}
    assert vote_entities([a, b, c]) == [({"label": "cat", "startOffset": 0, "endOffset": 4}, 0.67)]


def test_output_lines_follow_aws_layout():
    value, extra = output.consolidate(IMG, LABELS, [{"label": "dog"}, {"label": "dog"}])
    line = output.label_fields("animal", IMG, "job1", 1_700_000_000.25, value, extra)
    assert line["animal"] == 1
    meta = line["animal-metadata"]
    assert meta == {"class-name": "dog", "confidence": 1.0, "type": "groundtruth/image-classification",
                    "job-name": "labeling-job/job1", "human-annotated": "yes",
                    "creation-date": "2023-11-14T22:13:20.250000"}
    value, extra = output.consolidate(BOX, LABELS, [
        {"boundingBoxes": [{"label": "bird", "left": 1, "top": 2, "width": 30, "height": 40}],
         "inputImageProperties": {"width": 64, "height": 48}}])
    assert value == {"image_size": [{"width": 64, "height": 48, "depth": 3}],
                     "annotations": [{"class_id": 2, "left": 1, "top": 2, "width": 30, "height": 40}]}
    assert extra == {"objects": [{"confidence": 1.0}], "class-map": {"2": "bird"}}
    value, extra = output.consolidate(MULTI, LABELS, [{"labels": ["cat", "bird"]}])
    assert value == [0, 2] and extra["class-map"] == {"0": "cat", "2": "bird"}
    value, extra = output.consolidate(NER, LABELS, [{"entities": [{"label": "dog", "startOffset": 1,
                                                                   "endOffset": 3}]}])
    assert value["annotations"]["entities"] == [{"label": "dog", "startOffset": 1, "endOffset": 3}]
    assert extra == {"entities": [{"confidence": 1.0}]}
    assert output.output_manifest_key(output.job_prefix("out/", "j")) == "out/j/manifests/output/output.manifest"
    assert output.worker_response_key("j", 3, "t") == "j/annotations/worker-response/iteration-1/3/t.json"


def test_prelabel_starting_answers():
    assert starting_answer(IMG, LABELS, b'{"label": "dog"}') == {"label": "dog"}
    assert starting_answer(IMG, LABELS, b"[0.1, 0.2, 0.7]") == {"label": "bird"}
    assert starting_answer(IMG, LABELS, b'{"predictions": [{"predicted_label": 1}]}') == {"label": "dog"}
    assert starting_answer(IMG, LABELS, b"cat") == {"label": "cat"}
    assert starting_answer(MULTI, LABELS, b"[0.9, 0.1, 0.6]") == {"labels": ["cat", "bird"]}
    assert starting_answer(IMG, LABELS, b'{"something": "else"}') is None
    box = {"boundingBoxes": [{"label": "cat", "left": 1, "top": 1, "width": 5, "height": 5}]}
    assert starting_answer(BOX, LABELS, json.dumps(box).encode()) == box


@pytest.mark.parametrize("hostile", [
    '<crowd-bounding-box "' * 6000,                       # many starts, each with an unclosed quote
    "<crowd-classifier " + "a" * 120_000,                 # one endless attribute name
    "{% " * 40_000 + "<short-instructions>" * 3000,       # unclosed Liquid tags and sections
    '<crowd-classifier labels="' + "{{ a | " * 18_000 + '">',  # unclosed Liquid outputs in a value
])
def test_template_reading_is_linear_on_hostile_input(hostile):
    import time

    start = time.perf_counter()
    with pytest.raises(ValidationError):
        parse_template(hostile, [], "")  # each is refused (no element, or labels that are not a JSON list)
    assert time.perf_counter() - start < 2.0
