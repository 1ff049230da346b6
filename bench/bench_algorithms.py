"""Built-in algorithms side by side with scikit-learn: time and quality, printed as ratios.

* linear-learner: training time with num_models=32 vs 1 (one pass trains all models; target <= 2x), and
  held-out accuracy of the selected model vs scikit-learn's SGDClassifier given the same budget: 32
  configurations (regularisation spread as ours), 5 epochs each, logistic loss, standardised features, the
  best one picked on the same validation rows;
* kmeans vs MiniBatchKMeans (same k, batch size, passes): time and mean squared distance on held-out data;
* pca vs PCA (full SVD): time and the variance captured by the components.

Our programs run in-process through the same TrainingRun they use under /opt/ml (data read from the channel
files, so reading is included in our time and not in scikit-learn's: the ratios are conservative).
Run: ``python bench/bench_algorithms.py [--rows 100000]``. BLAS runs single-threaded on both sides (set
``BENCH_THREADS`` to change): with mini-batch-sized matrices, threads only add noise on a busy machine.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_THREADS", "1"))
import tempfile
import time
from pathlib import Path

import numpy as np


def run_builtin(package: str, hps: dict, channels: dict, fmt: str):
    import importlib

    from shipyard.algorithms.builtin import TrainingRun, load_model
    from shipyard.algorithms.env import TrainingEnv
    from shipyard.testing.algorithm_harness import encode, prepare_job

    base = Path(tempfile.mkdtemp(prefix="bench-"))
    prepare_job(base, hps, {c: encode(d, fmt, d.y is not None) for c, d in channels.items()})
    os.environ["SAGEMAKER_BASE_DIR"] = str(base)
    mod = importlib.import_module(f"shipyard.algorithms.{package}.train")
    algo = importlib.import_module(f"shipyard.algorithms.{package}").ALGORITHM
    import contextlib
    import io
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        mod.train(TrainingRun(algo, TrainingEnv.load()))
    secs = time.perf_counter() - t
    run_builtin.last_cpu = time.process_time() - c  # CPU seconds: steadier than wall time on a busy machine
    model = load_model(base / "model")
    import shutil
    shutil.rmtree(base, ignore_errors=True)
    return secs, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="linear-learner runs per setting; the fastest counts")
    args = ap.parse_args()
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    from shipyard.algorithms.linear_learner.metrics import sigmoid
    from shipyard.testing.algorithm_harness import RECORDIO, Dataset

    rng = np.random.default_rng(0)
    n, d = args.rows, 50
    X = rng.normal(size=(n, d)).astype(np.float32) * rng.uniform(0.5, 5, d).astype(np.float32)
    y = (X @ rng.normal(size=d) + rng.normal(scale=2.0, size=n) > 0).astype(np.float32)
    cut = int(n * 0.8)
    tr, va = Dataset(X[:cut], y[:cut]), Dataset(X[cut:], y[cut:])
    print(f"# linear-learner, binary, {cut} train rows x {d} features, 5 epochs, mini_batch_size 1000")
    res = {}
    for m in [1, 32] * args.repeat:  # interleaved, so a busy moment hits both settings alike
        secs, (meta, arr) = run_builtin("linear_learner", {
            "predictor_type": "binary_classifier", "num_models": str(m), "epochs": "5",
            "mini_batch_size": "1000"}, {"train": tr, "validation": va}, RECORDIO)
        prob = sigmoid(X[cut:] @ arr["weights"][:, 0] + arr["bias"][0])
        acc = float(((prob >= meta["threshold"]) == (y[cut:] > 0.5)).mean())
        old = res.get(m, (secs, run_builtin.last_cpu, acc))
        res[m] = (min(secs, old[0]), min(run_builtin.last_cpu, old[1]), acc)
    for m in (1, 32):
        print(f"num_models={m:<3} train {res[m][0]:7.3f}s wall, {res[m][1]:7.3f}s CPU (best of {args.repeat})  "
              f"held-out accuracy {res[m][2]:.4f}")
    print(f"time ratio num_models 32/1: {res[32][0] / res[1][0]:.2f}x wall, {res[32][1] / res[1][1]:.2f}x CPU "
          "for 32x the models (target <= 2x)")
    t = time.perf_counter()
    sc = StandardScaler().fit(X[:cut])
    Xtr, Xva = sc.transform(X[:cut]), sc.transform(X[cut:])
    alphas = 10 ** np.random.default_rng(1).uniform(-7, -2, 32)
    alphas[0] = 1e-4  # sklearn's default
    best_acc = -1.0
    for alpha in alphas:
        sgd = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=5, tol=None, random_state=0).fit(Xtr, y[:cut])
        best_acc = max(best_acc, float((sgd.predict(Xva) == y[cut:]).mean()))
    sk_secs = time.perf_counter() - t
    print(f"sklearn SGDClassifier, 32 configurations x 5 epochs {sk_secs:7.2f}s  best held-out accuracy "
          f"{best_acc:.4f}")
    print(f"accuracy ours(32) - sklearn(best of 32): {res[32][2] - best_acc:+.4f} (target >= 0); "
          f"time ratio ours/sklearn: {res[32][0] / sk_secs:.2f}x\n")

    k, d = 10, 20
    centers = rng.normal(scale=5, size=(k, d))
    Xk = (centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)
    print(f"# kmeans, {cut} rows x {d} features, k={k}, 2 epochs, mini_batch_size 5000")
    secs, (_, arr) = run_builtin("kmeans", {"k": str(k), "feature_dim": str(d), "epochs": "2",
                                            "init_method": "kmeans++", "mini_batch_size": "5000"},
                                 {"train": Dataset(Xk[:cut], None)}, RECORDIO)
    C = arr["centers"].astype(np.float64)
    msd = float(((Xk[cut:, None, :] - C[None]) ** 2).sum(-1).min(1).mean())
    t = time.perf_counter()
    mb = MiniBatchKMeans(k, batch_size=5000, max_iter=2, n_init=1, random_state=0).fit(Xk[:cut])
    sk_secs = time.perf_counter() - t
    sk_msd = float(((Xk[cut:, None, :] - mb.cluster_centers_[None]) ** 2).sum(-1).min(1).mean())
    print(f"ours {secs:7.2f}s  test msd {msd:.4f}\nsklearn MiniBatchKMeans {sk_secs:7.2f}s  test msd {sk_msd:.4f}")
    print(f"msd ratio ours/sklearn: {msd / sk_msd:.4f}; time ratio: {secs / sk_secs:.2f}x\n")

    d, kc = 100, 10
    Xp = (rng.normal(size=(n, kc)) @ rng.normal(size=(kc, d)) * 3 + rng.normal(size=(n, d))).astype(np.float32)
    for mode in ("regular", "randomized"):
        secs, (_, arr) = run_builtin("pca", {"feature_dim": str(d), "num_components": str(kc),
                                             "mini_batch_size": "5000", "algorithm_mode": mode},
                                     {"train": Dataset(Xp, None)}, RECORDIO)
        Xc = Xp - Xp.mean(0)
        var = float(((Xc @ arr["components"].T.astype(np.float64)) ** 2).sum())
        t = time.perf_counter()
        sk = PCA(kc, svd_solver="full" if mode == "regular" else "randomized", random_state=0).fit(Xp)
        sk_secs = time.perf_counter() - t
        sk_var = float(((Xc @ sk.components_.T) ** 2).sum())
        print(f"# pca {mode}, {n} rows x {d} features, {kc} components")
        print(f"ours {secs:7.2f}s  sklearn PCA({sk.svd_solver}) {sk_secs:7.2f}s  "
              f"variance captured ratio ours/sklearn {var / sk_var:.5f}; time ratio {secs / sk_secs:.2f}x")


if __name__ == "__main__":
    main()
