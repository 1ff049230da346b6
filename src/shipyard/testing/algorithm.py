"""The built-in algorithm conformance suite: every algorithm in ``registry.all_algorithms()`` gets it.

Use it by importing the tests into a test module (``from shipyard.testing.algorithm import *``). What it
checks, per algorithm, from its declaration alone:

* declared hyperparameters validate: the test problem's values and the defaults pass; a missing required
  one, a value of the wrong type, one outside ``[min, max]``, one outside ``choices`` and an unknown name
  each fail with a ValidationError that names the hyperparameter (and the allowed range or values); a
  garbage value of a free-form (str / list) hyperparameter, if refused by a cross-check, is refused the same
  way;
* training on a tiny generated data set completes, in each training format the algorithm lists in
  ``input_content_types`` (CSV, RecordIO-protobuf dense, sparse RecordIO-protobuf if ``supports_sparse``,
  LibSVM) and input mode (File; Pipe through FIFOs fed by a thread, if ``supports_pipe``), leaves a model,
  and logs every metric its ``TestProblem.metrics`` names, read back through the declared regexes;
* the handler answers every declared request type (``inference_content_types``) in every declared response
  type (``inference_accepts``) with the documented shape (``output_key`` / ``output_fields``), the same values
  whatever the encoding, and a batch request gives the same answers as one request per row.

An algorithm whose ``TestProblem.kind`` is ``sample`` (text, pairs, series, images) makes its own data and
requests (:class:`~shipyard.algorithms.base.SampleData`), one data set per training content type it lists; the
same checks run on them, answers compared value by value (numbers within a tolerance, text exactly).

An algorithm without a ``test_problem`` gets the hyperparameter checks only. An algorithm whose ``requires``
are not installed (torch for the neural built-ins) is skipped with the extra to install.
"""

from __future__ import annotations

import importlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ..algorithms.base import Algorithm, Param, SampleData
from ..algorithms.registry import all_algorithms
from ..errors import ValidationError
from ..io.protobuf import decode_record, write_recordio_protobuf
from ..io.recordio import split_records
from .algorithm_harness import (CSV, LIBSVM, RECORDIO, encode, logged_metrics, make_problem, prepare_job,
                                run_training)

__all__ = ["test_hyperparameters_validate", "test_training_completes", "test_handler_answers_each_type",
           "test_batch_matches_one_by_one", "trained_model"]

ALGORITHMS: list[Algorithm] = all_algorithms()
_IDS = [a.name for a in ALGORITHMS]
JSON_T, JSONL_T = "application/json", "application/jsonlines"


# ------------------------------------------------------------------ hyperparameters

def _good(rule: Param):
    if rule.default is not None and rule.default != "auto":
        return rule.default if not isinstance(rule.default, list) else ",".join(map(str, rule.default))
    if rule.choices:
        return rule.choices[0]
    if rule.kind in ("int", "float"):
        lo = 1 if rule.min is None else rule.min + (1 if rule.min_exclusive else 0)
        return int(lo) if rule.kind == "int" else float(lo) if not rule.min_exclusive else rule.min + 1e-3
    return "true" if rule.kind == "bool" else "x"


def base_hyperparameters(algo: Algorithm) -> dict[str, str]:
    hps = {k: str(_good(r)) for k, r in algo.hyperparameters.items() if r.required}
    if algo.test_problem:
        hps.update(algo.test_problem.hyperparameters)
    return hps


def _bad_values(rule: Param):
    """(raw value, text the message must contain) pairs that the rule must refuse."""
    out = []
    if rule.kind in ("int", "float"):
        out.append(("not-a-number", "expected"))
        if rule.kind == "int":
            out.append(("1.5", "int"))
        if rule.min is not None:
            out.append((str(rule.min if rule.min_exclusive else rule.min - 1), rule.allowed()))
        if rule.max is not None:
            out.append((str(rule.max + 1), rule.allowed()))
    elif rule.kind == "bool":
        out.append(("maybe", "bool"))
    if rule.choices:
        out.append(("surely-not-a-choice", "one of"))
    return out


@pytest.mark.parametrize("algo", ALGORITHMS, ids=_IDS)
def test_hyperparameters_validate(algo: Algorithm):
    good = base_hyperparameters(algo)
    full = algo.validate(good)
    for name, rule in algo.hyperparameters.items():
        if rule.default is not None:
            assert name in full, f"default of {name} not filled in"
    for name, rule in algo.hyperparameters.items():
        if rule.required:
            missing = {k: v for k, v in good.items() if k != name}
            with pytest.raises(ValidationError, match=name):
                algo.validate(missing)
        for raw, fragment in _bad_values(rule):
            with pytest.raises(ValidationError) as info:
                algo.validate({**good, name: raw})
            msg = str(info.value)
            assert f"'{name}'" in msg and fragment in msg, msg
    for name, rule in algo.hyperparameters.items():
        if rule.kind in ("str", "list") and not rule.choices:  # free-form: a cross-check must name it if it refuses
            try:
                algo.validate({**good, name: "@@not-valid@@"})
            except ValidationError as e:
                assert f"'{name}'" in str(e) and "expected" in str(e), str(e)
    with pytest.raises(ValidationError, match="not_a_real_hyperparameter"):
        algo.validate({**good, "not_a_real_hyperparameter": "1"})
    assert algo.validate({**good, "sagemaker_region": "us-east-1", "_tuning_objective_metric": "x"})
    for name in (algo.test_problem.metrics if algo.test_problem else ()):
        assert name in algo.metrics, f"test problem metric {name} is not declared"


# ------------------------------------------------------------------ training

def _formats(algo: Algorithm) -> list[tuple[str, bool]]:
    listed = {c.split(";")[0] for c in algo.input_content_types}
    out = [(f, False) for f in (CSV, RECORDIO, LIBSVM) if f in listed]
    if algo.supports_sparse and RECORDIO in listed:
        out.append((RECORDIO, True))
    return out


def _skip_uninstalled(algo: Algorithm) -> None:
    try:
        algo.check_installed()
    except ValidationError as e:
        pytest.skip(str(e))


def sample_data(algo: Algorithm, content_type: str) -> SampleData:
    """The algorithm's own tiny data set for one training content type (``TestProblem.sample``)."""
    module, _, function = algo.test_problem.sample.partition(":")
    return getattr(importlib.import_module(module), function)(content_type)


def _cases():
    for algo in ALGORITHMS:
        if algo.test_problem is None:
            continue
        if algo.test_problem.kind == "sample":
            for fmt in dict.fromkeys(algo.input_content_types):
                yield pytest.param(algo, fmt, False, "File", id=f"{algo.name}-{fmt.split('/')[-1]}-File")
            continue
        if algo.test_problem.kind == "entity_ip":
            fmts = [(CSV, False)]
        else:
            fmts = _formats(algo)
        for fmt, sparse in fmts:
            tag = fmt.split("/")[-1] + ("-sparse" if sparse else "")
            yield pytest.param(algo, fmt, sparse, "File", id=f"{algo.name}-{tag}-File")
            if algo.supports_pipe and fmt != LIBSVM and not sparse:
                yield pytest.param(algo, fmt, sparse, "Pipe", id=f"{algo.name}-{tag}-Pipe")


def train_once(algo: Algorithm, base: Path, fmt: str, sparse: bool, mode: str):
    tp = algo.test_problem
    if tp.kind == "sample":
        sample = sample_data(algo, fmt)
        prepare_job(base, {**tp.hyperparameters, **sample.hyperparameters}, dict(sample.channels), mode)
        return run_training(algo.training_module, base, timeout=180)
    channels = {}
    for i, name in enumerate(tp.channels):
        data = make_problem(tp.kind, tp.n_rows, tp.n_features, seed=i)
        channels[name] = encode(data, fmt, name in tp.labelled_channels, sparse)
    prepare_job(base, tp.hyperparameters, channels, mode)
    pipe = {c: payload for c, (payload, _) in channels.items()} if mode == "Pipe" else None
    return run_training(algo.training_module, base, timeout=120, pipe_channels=pipe)


@pytest.mark.parametrize("algo, fmt, sparse, mode", list(_cases()))
def test_training_completes(algo: Algorithm, fmt: str, sparse: bool, mode: str, tmp_path: Path):
    _skip_uninstalled(algo)
    result = train_once(algo, tmp_path, fmt, sparse, mode)
    assert result.returncode == 0, result.output[-3000:] + result.failure
    assert any(result.model_dir.iterdir()), "no model written"
    found = logged_metrics(result.output, algo.metrics)
    for name in algo.test_problem.metrics:
        assert name in found, f"metric {name} not logged:\n{result.output[-2000:]}"
        assert math.isfinite(found[name])


# ------------------------------------------------------------------ inference

_MODELS: dict[str, tuple[Path, object]] = {}


@pytest.fixture
def trained_model(request, tmp_path_factory):
    """(handler, test rows) for an algorithm, trained once per session on its first format in File mode."""
    def get(algo: Algorithm):
        _skip_uninstalled(algo)
        if algo.name not in _MODELS:
            base = tmp_path_factory.mktemp(algo.name)
            if algo.test_problem.kind == "sample":
                fmt, sparse = algo.input_content_types[0], False
            else:
                fmt, sparse = (CSV, False) if algo.test_problem.kind == "entity_ip" else _formats(algo)[0]
            result = train_once(algo, base, fmt, sparse, "File")
            assert result.returncode == 0, result.output[-3000:] + result.failure
            _MODELS[algo.name] = (result.model_dir, None)
        module, cls = algo.handler.split(":")
        handler = getattr(importlib.import_module(module), cls)(str(_MODELS[algo.name][0]))
        tp = algo.test_problem
        if tp.kind == "sample":
            return handler, sample_data(algo, algo.input_content_types[0]).requests
        return handler, make_problem(tp.kind, 7, tp.n_features, seed=99)
    return get


def request_body(data, content_type: str, rows: slice = slice(None)) -> bytes:
    if data.rows is not None:  # entity,ip pairs
        pairs = [r.split(",") for r in data.rows[rows]]
        if content_type == CSV:
            return "\n".join(",".join(p) for p in pairs).encode()
        inst = [{"data": {"features": {"values": p}}} for p in pairs]
        if content_type == JSON_T:
            return json.dumps({"instances": inst}).encode()
        return "\n".join(json.dumps(i) for i in inst).encode()
    X = data.X[rows]
    if content_type == CSV:
        return "\n".join(",".join(f"{v:.7g}" for v in r) for r in X).encode()
    if content_type == JSON_T:
        return json.dumps({"instances": [{"features": r.tolist()} for r in X]}).encode()
    if content_type == JSONL_T:
        return "\n".join(json.dumps({"features": r.tolist()}) for r in X).encode()
    if content_type == LIBSVM:
        return "\n".join(" ".join(f"{j}:{v:.7g}" for j, v in enumerate(r)) for r in X).encode()
    buf = io.BytesIO()
    write_recordio_protobuf(buf, X.astype(np.float32))
    return buf.getvalue()


def _flat(value) -> list[float]:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(x) for v in value for x in _flat(v)]
    return [float(value)]


def parse_response(body: bytes, accept: str, key: str, fields: tuple[str, ...]) -> list[list[float]]:
    """Each row's output values, flattened in ``fields`` order, checking the documented shape on the way."""
    a = accept.split(";")[0]
    if a == JSON_T and not key:  # a top-level list (BlazingText, image classification)
        doc = json.loads(body)
        assert isinstance(doc, list), doc
        rows = doc
    elif a == JSON_T:
        doc = json.loads(body)
        assert set(doc) == {key}, doc
        rows = doc[key]
    elif a == JSONL_T:
        rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    elif a == RECORDIO:
        rows = [{k: t.values.tolist() for k, t in decode_record(p).label.items()} for p in split_records(body)]
    elif a == CSV:
        return [[float(v) for v in line.split(",")] for line in body.decode().splitlines() if line.strip()]
    else:
        raise AssertionError(f"no parser for {accept}")
    out = []
    for r in rows:
        if not fields:  # each answer is itself the value (a list of class probabilities)
            out.append(_leaves(r))
            continue
        assert isinstance(r, dict) and set(fields) <= set(r), f"{r} lacks {fields}"
        out.append([x for f in fields for x in _leaves(r[f])])
    return out


def _leaves(value) -> list:
    """A JSON value's leaves in order: numbers as floats, text as is (labels, translations)."""
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _leaves(value[k])]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [x for v in value for x in _leaves(v)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return [value]
    return [float(value)]


def assert_same_answers(actual: list[list], expected: list[list], rtol: float, atol: float, what: str = ""):
    """Row by row: the same number of leaves, numbers within the tolerance, text equal."""
    assert len(actual) == len(expected), (what, actual, expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert len(a) == len(e), (what, i, a, e)
        nums_a = [x for x in a if isinstance(x, float)]
        nums_e = [x for x in e if isinstance(x, float)]
        assert [x for x in a if not isinstance(x, float)] == [x for x in e if not isinstance(x, float)], (what, i)
        np.testing.assert_allclose(nums_a, nums_e, rtol=rtol, atol=atol, err_msg=f"{what} row {i}")


def _algos_with_problem():
    return [pytest.param(a, id=a.name) for a in ALGORITHMS if a.test_problem is not None]


def _sample_answers_each_type(algo: Algorithm, handler, requests) -> None:
    tp = algo.test_problem
    listed = {r.content_type.split(";")[0] for r in requests}
    missing = [c for c in algo.inference_content_types if c.split(";")[0] not in listed]
    assert not missing, f"the sample makes no request of type {missing}"
    for req in requests:  # one request's answers agree whatever the response type
        reference = None
        for accept in algo.inference_accepts:
            body, out_type = handler.invoke(req.body, req.content_type, accept)
            assert out_type.split(";")[0] == accept.split(";")[0]
            values = parse_response(body, accept, tp.output_key, tp.output_fields)
            assert len(values) == req.answers, (req.content_type, accept, values)
            if accept.split(";")[0] == CSV:
                continue
            if reference is None:
                reference = values
            assert_same_answers(values, reference, 1e-4, 1e-5, f"{req.content_type} -> {accept}")
    with pytest.raises((ValidationError, ValueError)):
        handler.invoke(b"\x00garbage", algo.inference_content_types[0], algo.inference_accepts[0])


@pytest.mark.parametrize("algo", _algos_with_problem())
def test_handler_answers_each_type(algo: Algorithm, trained_model):
    handler, data = trained_model(algo)
    if algo.test_problem.kind == "sample":
        _sample_answers_each_type(algo, handler, data)
        return
    tp = algo.test_problem
    n = len(data.rows) if data.rows is not None else len(data.X)
    reference = None
    for ct in algo.inference_content_types:
        for accept in algo.inference_accepts:
            body, out_type = handler.invoke(request_body(data, ct), ct, accept)
            assert out_type.split(";")[0] == accept.split(";")[0]
            values = parse_response(body, accept, tp.output_key, tp.output_fields)
            assert len(values) == n, (ct, accept, values)
            if accept == CSV:
                continue
            if reference is None:
                reference = values
            np.testing.assert_allclose(values, reference, rtol=1e-4, atol=1e-5, err_msg=f"{ct} -> {accept}")
    with pytest.raises((ValidationError, ValueError)):
        handler.invoke(b"\x00garbage", algo.inference_content_types[0], algo.inference_accepts[0])


@pytest.mark.parametrize("algo", _algos_with_problem())
def test_batch_matches_one_by_one(algo: Algorithm, trained_model):
    handler, data = trained_model(algo)
    tp = algo.test_problem
    if tp.kind == "sample":
        checked = 0
        for req in data:
            if not req.singles:
                continue
            accept = algo.inference_accepts[0]
            batch = parse_response(handler.invoke(req.body, req.content_type, accept)[0], accept, tp.output_key,
                                   tp.output_fields)
            single = [row for one in req.singles for row in parse_response(
                handler.invoke(one, req.content_type, accept)[0], accept, tp.output_key, tp.output_fields)]
            assert_same_answers(batch, single, 1e-4, 1e-5, req.content_type)
            checked += 1
        assert checked, "the sample gives no request with singles"
        return
    ct, accept = algo.inference_content_types[0], algo.inference_accepts[0]
    n = len(data.rows) if data.rows is not None else len(data.X)
    body, _ = handler.invoke(request_body(data, ct), ct, accept)
    batch = parse_response(body, accept, tp.output_key, tp.output_fields)
    single = []
    for i in range(n):
        body, _ = handler.invoke(request_body(data, ct, slice(i, i + 1)), ct, accept)
        single.extend(parse_response(body, accept, tp.output_key, tp.output_fields))
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)
