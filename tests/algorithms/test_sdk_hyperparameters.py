"""Every hyperparameter the SageMaker SDK's first-party estimators can send is accepted by the built-in.

The values come from the SDK itself, not from a list kept here: each estimator class's ``Hyperparameter``
descriptors (``sagemaker.amazon.*``) carry their validators (``gt``/``ge``/``lt``/``le``/``isin`` closures),
and the enumeration below reads their bounds and choices. Every enumeration value and both ends of every
range are set one at a time on a real estimator (so the SDK's own validation accepts them), the job's
hyperparameters are produced the way ``fit`` produces them (``_prepare_for_training`` adds ``feature_dim``
and ``mini_batch_size``; ``KMeans.hyperparameters`` adds ``force_dense``), and the built-in that the
estimator's image names must accept them. Some values only make sense together (a linear-learner ``loss``
with its ``predictor_type``, a kNN ``k`` no larger than ``sample_size``): a per-class context sets the
partner hyperparameters, as a user would.

In-process that is the full cross product (thousands of validations, no server). Through the real server,
each estimator runs ``fit(wait=False)`` with a combination of non-default values, CreateTrainingJob must
accept it, and the job is stopped.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest

sagemaker = pytest.importorskip("sagemaker")

from sagemaker.amazon.amazon_estimator import RecordSet  # noqa: E402
from sagemaker.amazon.hyperparameter import Hyperparameter  # noqa: E402

from shipyard.algorithms.registry import builtin_for_image, resolve  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.testing.sdk import sdk_environment, sdk_session  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
BIG_INT = 2**31 - 1        # stands for "no upper bound" on integers
BIG_FLOAT = 1.0e9          # ... and on floats
TINY = 1e-9                # the step inside an open float bound
FEATURE_DIM = 10

# ---------------------------------------------------------------- the estimators and their required args

BUILTIN_CLASSES = {
    "KMeans": dict(k=3),
    "PCA": dict(num_components=2),
    "LinearLearner": dict(predictor_type="binary_classifier"),
    "FactorizationMachines": dict(num_factors=4, predictor_type="binary_classifier"),
    "KNN": dict(k=3, sample_size=1000, predictor_type="classifier"),
    "RandomCutForest": dict(),
    "IPInsights": dict(num_entity_vectors=100, vector_dim=16),
    "LDA": dict(num_topics=5),
    "NTM": dict(num_topics=5),
    "Object2Vec": dict(epochs=2, enc0_max_seq_len=10, enc0_vocab_size=100),
}

# Values for descriptors whose validator is an opaque function or that have none: what the SDK documents
# (its validation_message) as allowed.
OVERRIDES = {
    ("KMeans", "eval_metrics"): [["msd"], ["ssd"], ["msd", "ssd"], []],
    ("RandomCutForest", "eval_metrics"): [["accuracy"], ["precision_recall_fscore"],
                                          ["accuracy", "precision_recall_fscore"], []],
    ("PCA", "extra_components"): [-1, 0, 1, BIG_INT],
    ("PCA", "subtract_mean"): [True, False],
    ("LinearLearner", "positive_example_weight_mult"): ["auto", "balanced", "1e-06", "0.5", "1", "1000"],
    ("KNN", "faiss_index_ivf_nlists"): ["auto", "1", str(BIG_INT)],
    ("NTM", "encoder_layers"): [[100, 50], [10], ["auto"]],
}
FREE_FLOAT = [-1.5, 0.0, 1e-08, 2.5, BIG_FLOAT]  # "A float value"/"A number": no SDK bound
# Set by _prepare_for_training from the records and its mini_batch_size argument, not as attributes.
FROM_FIT = ("feature_dim", "mini_batch_size")


def _descriptors(cls) -> dict[str, Hyperparameter]:
    """attribute name -> the most-derived Hyperparameter descriptor of ``cls``."""
    out = {}
    for attr in dir(cls):
        value = inspect.getattr_static(cls, attr, None)
        if isinstance(value, Hyperparameter):
            out[attr] = value
    return out


def _bounds(hp: Hyperparameter) -> tuple[dict, tuple | None]:
    """Read the SDK validators: ({'gt'|'ge'|'lt'|'le': bound}, isin choices or None)."""
    bounds, choices = {}, None
    for fn in hp.validation:
        kind = fn.__qualname__.split(".")[0]
        nonlocals = inspect.getclosurevars(fn).nonlocals
        if kind in ("gt", "ge"):
            bounds[kind] = nonlocals["minimum"]
        elif kind in ("lt", "le"):
            bounds[kind] = nonlocals["maximum"]
        elif kind == "isin":
            choices = tuple(nonlocals["expected"])
        elif kind == "_list_check_subset":
            choices = tuple(sorted(nonlocals["valid_superset"]))
    return bounds, choices


def _values(cls_name: str, attr: str, hp: Hyperparameter) -> list:
    """Every value of an enumeration; both ends of a range (a big value where the SDK sets none)."""
    if (cls_name, hp.name) in OVERRIDES:
        return OVERRIDES[(cls_name, hp.name)]
    bounds, choices = _bounds(hp)
    if choices is not None:
        return list(choices)
    if hp.data_type is bool:
        return [True, False]
    if hp.data_type is int:
        lo = bounds["ge"] if "ge" in bounds else bounds["gt"] + 1 if "gt" in bounds else -BIG_INT
        hi = bounds["le"] if "le" in bounds else bounds["lt"] - 1 if "lt" in bounds else BIG_INT
        return sorted({int(lo), int(hi)})
    if hp.data_type is float:
        if not bounds:
            return FREE_FLOAT
        lo = bounds["ge"] if "ge" in bounds else bounds["gt"] + TINY if "gt" in bounds else -BIG_FLOAT
        hi = bounds["le"] if "le" in bounds else bounds["lt"] - TINY if "lt" in bounds else BIG_FLOAT
        return sorted({float(lo), float(hi)})
    raise AssertionError(f"{cls_name}.{attr} ({hp.name}): no rule to enumerate its values; add an OVERRIDE")


def _context(cls_name: str, name: str, value, base: dict) -> dict | None:
    """Constructor arguments that go with ``name=value`` (None: the SDK refuses the pair, skip it)."""
    args = dict(base)
    if cls_name == "LinearLearner":
        ptype = args["predictor_type"]
        if name == "loss":
            ok = {"binary_classifier": ("auto", "logistic", "hinge_loss"),
                  "multiclass_classifier": ("auto", "softmax_loss")}.get(ptype)
            if ok is None:
                ok = ("auto", "squared_loss", "absolute_loss", "eps_insensitive_squared_loss",
                      "eps_insensitive_absolute_loss", "quantile_loss", "huber_loss")
            if value not in ok:
                return None  # AWS documents which losses go with each predictor_type
        if name == "predictor_type" and value == "multiclass_classifier":
            args.setdefault("num_classes", 3)  # the SDK's __init__ requires it with this predictor_type
        if name == "num_classes" and ptype == "multiclass_classifier" and value < 3:
            return None  # the SDK's own __init__ refuses this pair
    if cls_name == "KNN":
        if name == "sample_size":
            args["k"] = min(args["k"], value)
        if name == "k":
            args["sample_size"] = max(args["sample_size"], value)
        if name == "dimension_reduction_type":
            args["dimension_reduction_target"] = FEATURE_DIM - 1
    return args


def _contexts(cls_name: str) -> list[dict]:
    base = dict(BUILTIN_CLASSES[cls_name])
    if cls_name == "LinearLearner":
        return [dict(base, predictor_type="binary_classifier"), dict(base, predictor_type="regressor"),
                dict(base, predictor_type="multiclass_classifier", num_classes=3)]
    if cls_name == "FactorizationMachines":
        return [base, dict(base, predictor_type="regressor")]
    if cls_name == "KNN":
        return [base, dict(base, predictor_type="regressor")]
    return [base]


def _fit_values(cls_name: str) -> list[tuple[int, int | None]]:
    """(feature_dim, mini_batch_size) pairs fit can send: the ends of each range, None where allowed."""
    dims = {"RandomCutForest": [1, 10000], "NTM": [1, 1000000]}.get(cls_name, [1, BIG_INT])
    batches = {"RandomCutForest": [None, 1000], "IPInsights": [None, 1, 500000],
               "NTM": [1, 10000], "LDA": [1, BIG_INT], "Object2Vec": [None, 1, 10000]
               }.get(cls_name, [None, 1, BIG_INT])
    return [(FEATURE_DIM, b) for b in batches] + [(d, batches[-1]) for d in dims]


def _estimator(cls_name: str, session, **kwargs):
    cls = getattr(sagemaker, cls_name)
    return cls(role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session,
               output_path="s3://sdk-hyperparameters/output",
               data_location="s3://sdk-hyperparameters/record-sets/", **kwargs)


def _emitted(est, feature_dim: int = FEATURE_DIM, mini_batch_size: int | None = None) -> dict[str, str]:
    """The HyperParameters ``fit`` would send for ``est``."""
    records = RecordSet("s3://sdk-hyperparameters/train/manifest", num_records=1000, feature_dim=feature_dim,
                        s3_data_type="ManifestFile", channel="train")
    est._prepare_for_training(records, mini_batch_size=mini_batch_size, job_name="sdk-hyperparameters")
    return est.hyperparameters()


def cases(cls_name: str, session):
    """Yield (label, emitted hyperparameters, image) for every value of every hyperparameter of a class.

    One estimator per context (constructing one costs a boto3 client); each case starts from a copy of its
    hyperparameters and sets the partner values and the value under test through the SDK's descriptors."""
    descriptors = _descriptors(getattr(sagemaker, cls_name))
    for ctx in _contexts(cls_name):
        est = _estimator(cls_name, session, **ctx)
        image = est.training_image_uri()
        initial = dict(est._hyperparameters)
        for dim, batch in _fit_values(cls_name):
            est._hyperparameters = dict(initial)
            yield f"{ctx} feature_dim={dim} mini_batch_size={batch}", _emitted(est, dim, batch), image
        for attr, hp in sorted(descriptors.items()):
            if hp.name in FROM_FIT:
                continue
            for value in _values(cls_name, attr, hp):
                args = _context(cls_name, hp.name, value, ctx)
                if args is None:
                    continue
                est._hyperparameters = dict(initial)
                for key, partner in args.items():
                    if partner != ctx.get(key):
                        setattr(est, key, partner)
                setattr(est, attr, value)  # the SDK validates it here: a ValueError means a bad enumeration
                dim = FEATURE_DIM
                if cls_name == "KNN" and hp.name == "dimension_reduction_target":
                    dim = value + 1  # "less than feature_dim"
                batch = 100 if cls_name == "LDA" else None  # LDA's fit requires a mini_batch_size
                yield f"{ctx} {hp.name}={value!r}", _emitted(est, dim, batch), image


@pytest.fixture(scope="module")
def offline_session(tmp_path_factory, quick_sagemaker_sdk):
    """A SageMaker session that never calls out: output_path is given, nothing is uploaded."""
    # No server: no AWS_* changes, so the server tests' session may share the module.
    with sdk_environment(None, tmp_path_factory.mktemp("sagemaker-config"), region=REGION):
        yield sdk_session(REGION, "sdk-hyperparameters", aws_access_key_id="offline",
                          aws_secret_access_key="offline")


# ---------------------------------------------------------------- in-process: the full cross product

@pytest.mark.parametrize("cls_name", sorted(BUILTIN_CLASSES))
def test_every_sdk_hyperparameter_value_is_accepted(cls_name, offline_session):
    seen: dict[str, set] = {}
    failures = []
    n = 0
    for label, hps, image in cases(cls_name, offline_session):
        algo = builtin_for_image(image)
        assert algo is not None, f"{image} selects no built-in"
        kind, same = resolve(image, hps)
        assert (kind, same) == ("builtin", algo)
        try:
            full = algo.validate(hps)
        except ValidationError as e:
            failures.append(f"{label}: {e}")
            continue
        n += 1
        for key, value in hps.items():
            seen.setdefault(key, set()).add(value)
            assert key in full  # accepted, not dropped
    assert not failures, f"{len(failures)} of {n + len(failures)} {cls_name} hyperparameter sets refused:\n" \
        + "\n".join(failures[:40])
    # The enumeration really covered every hyperparameter the class can send.
    names = {hp.name for hp in _descriptors(getattr(sagemaker, cls_name)).values()}
    assert names <= set(seen), names - set(seen)
    if cls_name == "KMeans":
        assert seen["force_dense"] == {"True"}


def test_enumeration_reads_the_sdk_validators():
    """The enumeration is what the SDK declares: spot checks against the descriptors' own closures."""
    hp = _descriptors(sagemaker.KMeans)
    assert _values("KMeans", "tol", hp["tol"]) == [0.0, 1.0]
    assert _values("KMeans", "init_method", hp["init_method"]) == ["random", "kmeans++"]
    assert _values("KMeans", "k", hp["k"]) == [2, BIG_INT]
    ll = _descriptors(sagemaker.LinearLearner)
    assert _values("LinearLearner", "momentum", ll["momentum"]) == [0.0, 1.0 - TINY]
    assert _values("LinearLearner", "num_classes", ll["num_classes"]) == [1, 1000000]
    assert len(_values("LinearLearner", "loss", ll["loss"])) == 10
    assert _values("RandomCutForest", "feature_dim", _descriptors(sagemaker.RandomCutForest)["feature_dim"]) \
        == [1, 10000]
    for bad in (-0.1, 1.5):  # the SDK itself refuses values outside what we enumerate
        with pytest.raises(ValueError):
            hp["tol"].validate(bad)


def test_misspelled_and_out_of_range_hyperparameters_are_refused_with_a_hint(offline_session):
    est = _estimator("KMeans", offline_session, k=3)
    hps = _emitted(est)
    algo = builtin_for_image(est.training_image_uri())
    with pytest.raises(ValidationError, match=r"Did you mean 'half_life_time_size'\?"):
        algo.validate({**hps, "half_life_timesize": "3"})
    with pytest.raises(ValidationError, match=r"local_lloyd_tol.*\[0, 1\]"):
        algo.validate({**hps, "local_lloyd_tol": "1.5"})
    with pytest.raises(ValidationError, match=r"Did you mean kmeans\+\+\?"):
        algo.validate({**hps, "init_method": "kmeans+"})
    with pytest.raises(ValidationError, match="eval_metrics"):
        algo.validate({**hps, "eval_metrics": '["msd", "mse"]'})
    ll = builtin_for_image(sagemaker.image_uris.retrieve("linear-learner", REGION))
    with pytest.raises(ValidationError, match=r"momentum.*\[0, 1\)"):
        ll.validate({"predictor_type": "regressor", "momentum": "1"})
    xgb = builtin_for_image(sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"))
    with pytest.raises(ValidationError, match=r"Did you mean 'num_round'\?"):
        xgb.validate({"num_rounds": "10"})
    with pytest.raises(ValidationError, match="known ones: .*num_round"):  # nothing close: the list
        xgb.validate({"num_round": "10", "zzzzqqqq": "1"})


# ---------------------------------------------------------------- through the real server

@pytest.fixture(scope="module")
def sm_session(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), region=REGION):
        yield sdk_session(REGION, "sdk-hyperparameters")


def _combination(cls_name: str) -> tuple[dict, list[tuple[str, object]]]:
    """Constructor args and a set of (attribute, value): for each hyperparameter a non-first allowed value
    consistent with the others."""
    args = dict(BUILTIN_CLASSES[cls_name])
    if cls_name == "LinearLearner":
        args.update(predictor_type="regressor")
    if cls_name == "KNN":
        args.update(dimension_reduction_type="fjlt", dimension_reduction_target=3, index_type="faiss.IVFFlat")
    chosen = []
    for attr, hp in sorted(_descriptors(getattr(sagemaker, cls_name)).items()):
        if hp.name in FROM_FIT or hp.name in args or attr in args:
            continue
        values = [v for v in _values(cls_name, attr, hp) if _context(cls_name, hp.name, v, args) == args]
        if values:
            chosen.append((attr, values[len(values) // 2] if len(values) > 2 else values[0]))
    return args, chosen


def _stop(sm, name: str) -> None:
    sm.stop_training_job(TrainingJobName=name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if status in ("Stopped", "Completed", "Failed"):
            return
        time.sleep(0.5)


@pytest.mark.timeout(300)
def test_sdk_fit_is_accepted_by_the_server(sm_session, server):
    """fit(wait=False) through the server for each built-in with many hyperparameters set; then stop it."""
    sm = server.client("sagemaker")
    assert sm_session.default_bucket() == "sdk-hyperparameters"  # creates it: record_set uploads there
    rng = np.random.default_rng(0)
    for cls_name in sorted(BUILTIN_CLASSES):
        args, chosen = _combination(cls_name)
        est = _estimator(cls_name, sm_session, **args)
        for attr, value in chosen:
            setattr(est, attr, value)
        x = rng.normal(size=(20, 6)).astype("float32")
        labels = (x[:, 0] > 0).astype("float32") if cls_name in ("LinearLearner", "FactorizationMachines",
                                                                   "KNN") else None
        records = est.record_set(x, labels=labels)
        batch = 1000 if cls_name == "RandomCutForest" else 10
        est.fit(records, mini_batch_size=batch, wait=False, logs=False)
        name = est.latest_training_job.name
        try:
            desc = sm.describe_training_job(TrainingJobName=name)
            sent = est.hyperparameters()
            assert desc["HyperParameters"] == sent
            assert sent["feature_dim"] == "6" and sent["mini_batch_size"] == str(batch)
            assert len(sent) >= len(chosen) + 2, (cls_name, sent)
            # accepted and started; a fast failure must not be about hyperparameters
            assert "yperparameter" not in desc.get("FailureReason", ""), desc["FailureReason"]
        finally:
            _stop(sm, name)


# ---------------------------------------------------------------- honoured, not only accepted

def test_kmeans_trains_with_what_the_sdk_sends(offline_session, tmp_path):
    """The SDK's KMeans hyperparameters (force_dense=True, eval_metrics, local_lloyd_*, half_life_time_size,
    epochs) train on sparse RecordIO; force_dense only changes how batches are held, not the clusters."""
    from shipyard.testing.algorithm_harness import RECORDIO, encode, logged_metrics, make_problem, prepare_job, \
        run_training

    est = _estimator("KMeans", offline_session, k=3, init_method="kmeans++", max_iterations=50, tol=0.001,
                     num_trials=2, local_init_method="kmeans++", half_life_time_size=10, epochs=3,
                     center_factor=2, eval_metrics=["msd", "ssd"])
    hps = _emitted(est, feature_dim=6, mini_batch_size=50)
    assert hps["force_dense"] == "True" and hps["eval_metrics"] == '["msd", "ssd"]'
    algo = builtin_for_image(est.training_image_uri())
    channels = {name: encode(make_problem("clusters", 300, 6, seed=i), RECORDIO, labelled=False, sparse=True)
                for i, name in enumerate(("train", "test"))}
    results = {}
    for force in ("True", "False"):
        base = prepare_job(tmp_path / force, {**hps, "force_dense": force}, channels)
        result = run_training(algo.training_module, base, timeout=120)
        assert result.returncode == 0, result.output[-3000:] + result.failure
        results[force] = logged_metrics(result.output, algo.metrics)
        assert set(results[force]) == {"test:msd", "test:ssd"}, result.output[-2000:]
    assert results["True"]["test:msd"] == pytest.approx(results["False"]["test:msd"], rel=1e-4)


def _train_linear_learner(base, hps: dict, train, test):
    from shipyard.algorithms.linear_learner import ALGORITHM
    from shipyard.testing.algorithm_harness import CSV, encode, logged_metrics, prepare_job, run_training

    channels = {"train": encode(train, CSV, labelled=True), "test": encode(test, CSV, labelled=True)}
    result = run_training(ALGORITHM.training_module, prepare_job(base, hps, channels), timeout=120)
    assert result.returncode == 0, result.output[-3000:] + result.failure
    return logged_metrics(result.output, ALGORITHM.metrics)


def test_linear_learner_honours_unbias_label_and_balance_multiclass_weights(offline_session, tmp_path):
    from shipyard.testing.algorithm_harness import Dataset, make_problem

    # unbias_label centres the labels: with labels far from 0 and no label normalisation, the bias need not
    # walk there by SGD, so two short epochs already fit.
    train, test = make_problem("regression", 400, 5, seed=0), make_problem("regression", 200, 5, seed=1)
    train, test = Dataset(train.X, train.y + 500.0), Dataset(test.X, test.y + 500.0)
    est = _estimator("LinearLearner", offline_session, predictor_type="regressor", normalize_label=False,
                     epochs=2, num_models=1, learning_rate=0.01, optimizer="sgd", use_lr_scheduler=False)
    mse = {}
    for unbias in (True, False):
        est.unbias_label = unbias
        metrics = _train_linear_learner(tmp_path / f"unbias-{unbias}", _emitted(est, 5, 32), train, test)
        mse[unbias] = metrics["test:mse"]
    assert mse[True] < 20.0 and mse[True] * 100 < mse[False], mse  # labels vary by ~5 around 500

    # balance_multiclass_weights: every class gets the same total weight; training with it completes.
    train, test = make_problem("multiclass", 300, 5, seed=0), make_problem("multiclass", 100, 5, seed=1)
    est = _estimator("LinearLearner", offline_session, predictor_type="multiclass_classifier", num_classes=3,
                     balance_multiclass_weights=True, epochs=3, num_models=2)
    metrics = _train_linear_learner(tmp_path / "balanced", _emitted(est, 5, 32), train, test)
    assert metrics["test:multiclass_accuracy"] > 0.6, metrics
