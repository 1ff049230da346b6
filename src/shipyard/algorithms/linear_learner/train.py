"""Linear learner's training program: ``python -m shipyard.algorithms.linear_learner.train``.

Flow, as SageMaker documents it: fit a scaler on the first ``num_point_for_scaler`` rows; train
``num_models`` variants (the given settings plus nearby learning rates and regularisation) together for
``epochs`` passes, stopping early when the best validation loss (training sample if no validation channel)
stops improving by ``early_stopping_tolerance`` for ``early_stopping_patience`` epochs; pick the winner on
validation by ``binary_classifier_model_selection_criteria`` after calibrating each binary model's decision
threshold; report validation and test metrics; save the winner in raw-feature space.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...errors import ValidationError
from ...io.readers import Batch, concat
from .. import aws_artifacts
from ..builtin import TrainingRun, main
from . import ALGORITHM
from .metrics import binary_report, calibrate, multiclass_report, regression_report, sigmoid, softmax
from .model import LinearModels, fit_scaler, loss_and_grad, mean_losses, to_aws

_DEFAULT_LR = {"adam": 0.01, "rmsprop": 0.01, "sgd": 0.1}


def resolve(h: dict) -> dict:
    """Fill in every 'auto' with the value used, and derive the loss."""
    h = dict(h)
    ptype = h["predictor_type"]
    h["optimizer"] = "adam" if h["optimizer"] == "auto" else h["optimizer"]
    if h["loss"] == "auto":
        h["loss"] = {"binary_classifier": "logistic", "multiclass_classifier": "softmax_loss"}.get(
            ptype, "squared_loss")
    if h["loss"] == "softmax_loss" and ptype != "multiclass_classifier":
        raise ValidationError("loss softmax_loss needs predictor_type multiclass_classifier.")
    auto = lambda k, v: v if h[k] == "auto" else h[k]  # noqa: E731
    h["momentum"] = auto("momentum", 0.0)
    h["beta_1"] = auto("beta_1", 0.9)
    h["beta_2"] = auto("beta_2", 0.999)
    h["bias_lr_mult"] = auto("bias_lr_mult", 1.0)
    h["lr_scheduler_step"] = auto("lr_scheduler_step", 100)
    h["lr_scheduler_factor"] = auto("lr_scheduler_factor", 0.99)
    h["lr_scheduler_minimum_lr"] = auto("lr_scheduler_minimum_lr", 1e-5)
    regression = ptype == "regressor"
    h["normalize_label"] = auto("normalize_label", regression) and regression
    h["unbias_data"] = auto("unbias_data", True)
    h["num_models"] = auto("num_models", 32)
    return h


def variants(h: dict, rng: np.random.Generator):
    """Per-model learning rate, weight decay and L1: model 0 uses the given settings, the rest nearby."""
    M = h["num_models"]
    lr_given = h["learning_rate"] != "auto"
    base_lr = h["learning_rate"] if lr_given else _DEFAULT_LR[h["optimizer"]]
    spread = 0.5 if lr_given else 1.0
    lr = base_lr * 10 ** rng.uniform(-spread, spread, M)
    lr[0] = base_lr

    def reg(key):
        if h[key] != "auto":
            v = h[key] * 10 ** rng.uniform(-0.5, 0.5, M)
            v[0] = h[key]
            return v
        v = np.where(rng.random(M) < 0.4, 0.0, 10 ** rng.uniform(-7, -2, M))
        v[0] = 0.0
        return v

    return lr, reg("wd"), reg("l1")


def check_labels(y, h):
    if y is None:
        raise ValidationError("linear-learner needs labels: CSV label first, or RecordIO label['values'].")
    ptype = h["predictor_type"]
    if ptype == "binary_classifier" and not np.isin(y, (0.0, 1.0)).all():
        raise ValidationError("Labels must be 0 or 1 when predictor_type is binary_classifier; "
                              f"found {sorted(set(np.unique(y).tolist()) - {0.0, 1.0})[:5]}.")
    if ptype == "multiclass_classifier":
        k = h["num_classes"]
        if not (np.equal(np.mod(y, 1), 0).all() and y.min() >= 0 and y.max() < k):
            raise ValidationError(f"Labels must be integers in [0, {k - 1}] when num_classes is {k}.")


class Trainer:
    def __init__(self, run: TrainingRun):
        self.run = run
        self.h = resolve(run.hps)
        self.ptype = self.h["predictor_type"]
        self.K = self.h["num_classes"] if self.ptype == "multiclass_classifier" else 1
        self.fdim = None if self.h["feature_dim"] == "auto" else self.h["feature_dim"]
        self.rng = np.random.default_rng(0)

    def stream(self, epoch: int):
        return self.run.batches("train", self.h["mini_batch_size"], epoch, label_size=1, feature_dim=self.fdim)

    def scores(self, X, W, b):
        """Raw scores [N, M, K] of the folded models, in float32 like the data (one sgemm for all models)."""
        D, M, K = W.shape
        S = np.asarray(X @ W.reshape(D, M * K).astype(np.float32), dtype=np.float32)
        S += b.reshape(-1).astype(np.float32)
        return S.reshape(X.shape[0], M, K)

    def losses(self, X, y, W, b):
        return mean_losses(self.scores(X, W, b), y, self.h["loss"], self.h).astype(np.float64)

    def weights_for(self, y):
        if getattr(self, "class_weight", None) is not None:  # balance_multiclass_weights
            return self.class_weight[y.astype(np.int64)]
        if self.pos_weight == 1.0 or self.ptype != "binary_classifier":
            return None
        return np.where(y > 0.5, self.pos_weight, 1.0)

    def fit(self):
        h, run = self.h, self.run
        first = iter(self.stream(0))
        head: list[Batch] = []
        n = 0
        for b in first:
            head.append(b)
            n += len(b)
            if n >= h["num_point_for_scaler"]:
                break
        if not head:
            raise ValidationError("The train channel holds no data.")
        sample = concat(head)
        check_labels(sample.y, h)
        center = h["unbias_data"] and h["use_bias"]
        self.scaler = fit_scaler(sample.X, sample.y, h["normalize_data"], center, h["normalize_label"])
        mult = h["positive_example_weight_mult"]
        if mult == "balanced":
            pos = max(float((sample.y > 0.5).sum()), 1.0)
            self.pos_weight = (len(sample.y) - pos) / pos
        else:
            self.pos_weight = 1.0 if mult == "auto" else float(mult)
        if self.ptype == "regressor" and h["unbias_label"] is True and not h["normalize_label"]:
            self.scaler.y_mean = float(np.mean(sample.y))  # centre labels only (normalize_label also scales)
        self.class_weight = None
        if self.ptype == "multiclass_classifier" and h["balance_multiclass_weights"]:
            counts = np.bincount(sample.y.astype(np.int64), minlength=self.K).astype(np.float64)
            self.class_weight = len(sample.y) / (self.K * np.maximum(counts, 1.0))  # equal total weight per class
        D = sample.X.shape[1]
        lr, wd, l1 = variants(h, self.rng)
        models = LinearModels(D, self.K, lr, wd, l1, h, self.rng)
        val = run.load("validation", label_size=1, feature_dim=D) if run.has("validation") else None
        if val is not None:
            check_labels(val.y, h)
        self.val = val
        cal_n = min(h["num_calibration_samples"], len(sample.y) if val is None else len(val.y))
        self.eval_set = (val if val is not None else sample)
        self.eval_set = Batch(self.eval_set.X[:cal_n], self.eval_set.y[:cal_n])
        file_mode = run.mode("train").lower() != "pipe"
        best, best_epoch, since = np.inf, -1, 0
        snapshot = models.fold(self.scaler)
        for epoch in range(h["epochs"]):
            if epoch == 0:
                batches = itertools.chain(head, first)
            else:
                batches = self.stream(epoch)
                if file_mode:
                    batches = list(batches)
                    self.rng.shuffle(batches)
            total, rows = np.zeros(models.M), 0
            for b in batches:
                if b.X.shape[1] != D:
                    raise ValidationError(f"Training rows have {b.X.shape[1]} features; expected {D}.")
                if epoch == 0:
                    check_labels(b.y, h)
                y = self.scaler.label(b.y.astype(np.float64))
                total += models.step(self.scaler.features(b.X, with_ones=True), y, h["loss"], self.weights_for(b.y))
                rows += len(b)
            W, bias = models.fold(self.scaler)
            eval_loss = self.losses(self.eval_set.X, self.eval_set.y, W, bias)
            eval_loss = np.where(np.isfinite(eval_loss), eval_loss, np.inf)
            run.metric("train:objective_loss", float(np.min(total / max(rows, 1))))
            if val is not None:
                run.metric("validation:objective_loss", float(eval_loss.min()))
            cur = float(eval_loss.min())
            if cur < best and (best == np.inf or (best - cur) / max(abs(best), 1e-12) > h["early_stopping_tolerance"]):
                best, best_epoch, since = cur, epoch, 0
                snapshot = (W, bias)
            else:
                if cur < best:
                    snapshot, best = (W, bias), cur
                since += 1
                if since >= h["early_stopping_patience"]:
                    run.log(f"early stopping after epoch {epoch + 1} (best epoch {best_epoch + 1})")
                    break
        return snapshot

    def select(self, W, b):
        """Index of the winning model and its decision threshold."""
        h = self.h
        X, y = self.eval_set.X, self.eval_set.y
        losses = self.losses(X, y, W, b)
        losses = np.where(np.isfinite(losses), losses, np.inf)
        S = self.scores(X, W, b)
        crit = h["binary_classifier_model_selection_criteria"]
        crit = {"f1": "f_beta", "cross_entropy_loss": "loss_function"}.get(crit, crit)
        if self.ptype == "binary_classifier":
            prob = sigmoid(S[:, :, 0]).T if h["loss"] == "logistic" else S[:, :, 0].T
            default_thr = 0.5 if h["loss"] == "logistic" else 0.0
            if crit == "loss_function":
                return int(np.argmin(losses)), default_thr
            beta = 1.0 if h["binary_classifier_model_selection_criteria"] == "f1" else h["f_beta"]
            thr, value = calibrate(prob, y, crit, beta, h["target_recall"], h["target_precision"], default_thr)
            order = np.lexsort((losses, -value))
            m = int(order[0])
            return m, float(thr[m])
        if self.ptype == "multiclass_classifier" and crit != "loss_function":
            acc = (S.argmax(axis=2) == y.astype(int)[:, None]).mean(axis=0)
            return int(np.lexsort((losses, -acc))[0]), 0.0
        return int(np.argmin(losses)), 0.0

    def report(self, channel: str, batch: Batch, W, b, threshold: float):
        h = self.h
        S = self.scores(batch.X, W[:, None, :], b[None, :])
        L, _ = loss_and_grad(S, batch.y, h["loss"], h)
        self.run.metric(f"{channel}:objective_loss", float(L.mean()))
        if self.ptype == "binary_classifier":
            s = S[:, 0, 0]
            prob = sigmoid(s) if h["loss"] == "logistic" else s
            rep = binary_report(prob, batch.y, threshold, h["f_beta"])
        elif self.ptype == "multiclass_classifier":
            rep = multiclass_report(softmax(S[:, 0, :], axis=1), batch.y, h["accuracy_top_k"], h["f_beta"])
        else:
            rep = regression_report(S[:, 0, 0], batch.y)
        for name, value in rep.items():
            if np.isfinite(value):
                self.run.metric(f"{channel}:{name}", value)


def train(run: TrainingRun) -> None:
    t = Trainer(run)
    W, b = t.fit()
    m, threshold = t.select(W, b)
    Wm, bm = W[:, m, :].astype(np.float32), b[m].astype(np.float32)
    run.log(f"selected model {m} of {W.shape[1]}; threshold {threshold:.4g}")
    D = W.shape[0]
    if t.val is not None:
        t.report("validation", t.val, Wm, bm, threshold)
    if run.has("test"):
        test = run.load("test", label_size=1, feature_dim=D)
        if test is not None:
            check_labels(test.y, t.h)
            t.report("test", test, Wm, bm, threshold)
    meta = {"predictor_type": t.ptype, "loss": t.h["loss"], "threshold": threshold, "feature_dim": D,
            "num_classes": t.K, "selected_model": m}
    # AWS's format (a zipped MXNet module), so the model also deploys on SageMaker; what the module leaves
    # implicit (the calibrated threshold, the loss) goes to shipyard-meta.json beside it
    aws_artifacts.write(run.env.model_dir, to_aws(meta, Wm, bm), meta)


if __name__ == "__main__":
    main(ALGORITHM, train)
