"""BlazingText against what a user would otherwise pick: gensim's Word2Vec and the fastText package.

The data is generated (no downloads): for Word2Vec, sentences about entities in two forms
(:func:`shipyard.algorithms.blazingtext.synthetic.word2vec_corpus`), scored by Spearman's rho on graded word
pairs (same entity > same form > unrelated) and by the accuracy of ``a : b :: c : ?`` analogies; for text
classification, documents of several topics (:func:`~.synthetic.labelled_text`), scored by held-out accuracy.

Shipyard runs as a user runs it: CreateTrainingJob against a Shipyard server (image ``blazingtext``), the
artifacts read back from the job's model.tar.gz. Its times: the job's training time (TrainingEndTime -
TrainingStartTime: a process starting Python and torch, reading the channel and writing the model), the training
loop's own time and words/second (from the job's log), and the wall time from CreateTrainingJob to Completed.
The peers run in this process on the same data and settings, one thread each (ours uses one CPU thread too):
gensim ``Word2Vec(sg=1, workers=1)`` and ``fasttext.train_supervised(thread=1)``. The supervised held-out
accuracy of Shipyard's model is computed by the fastText package itself on our ``model.bin``.

Run: ``python bench/bench_blazingtext.py [--quick]``. Ratios: ours / peer.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_THREADS", "1"))

import numpy as np  # noqa: E402

from shipyard.algorithms.blazingtext.synthetic import (analogies, fasttext_lines, labelled_text,  # noqa: E402
                                                       similarity_pairs, word2vec_corpus)

BUCKET = "bench-blazingtext"


def score_vectors(lookup, entities: int) -> tuple[float, float]:
    """(Spearman rho on the graded pairs, analogy accuracy) of ``lookup(word) -> vector``."""
    from scipy.stats import spearmanr

    gold, pred = [], []
    for a, b, s in similarity_pairs(entities):
        va, vb = lookup(a), lookup(b)
        gold.append(s)
        pred.append(float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12)))
    qs = analogies(entities)
    words = sorted({w for q in qs for w in q})
    V = np.stack([lookup(w) for w in words]).astype(np.float64)
    V /= np.linalg.norm(V, axis=1, keepdims=True) + 1e-12
    idx = {w: i for i, w in enumerate(words)}
    right = 0
    for a, b, c, d in qs:
        s = V @ (V[idx[b]] - V[idx[a]] + V[idx[c]])
        s[[idx[a], idx[b], idx[c]]] = -np.inf
        right += int(np.argmax(s) == idx[d])
    return float(spearmanr(gold, pred).correlation), right / len(qs)


def run_job(srv, name: str, hps: dict, channels: dict[str, bytes], timeout: float) -> dict:
    s3, sm, logs = srv.client("s3"), srv.client("sagemaker"), srv.client("logs")
    config = []
    for channel, body in channels.items():
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{channel}/data.txt", Body=body)
        config.append({"ChannelName": channel, "ContentType": "text/plain", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/{channel}/",
                             "S3DataDistributionType": "FullyReplicated"}}})
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name, AlgorithmSpecification={"TrainingImage": "blazingtext", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/Bench", HyperParameters={k: str(v) for k, v in hps.items()},
        InputDataConfig=config, OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": int(timeout)})
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    if desc["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"BlazingText job {name} {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
    key = desc["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{BUCKET}/", 1)[1]
    artifact = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    text = ""
    group = "/aws/sagemaker/TrainingJobs"
    for stream in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=name).get("logStreams", []):
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
        text += "\n".join(e["message"] for e in events["events"]) + "\n"
    m = re.search(r"([\d.]+) words/second \(([\d.]+) s training\)", text)
    metrics = {x["MetricName"]: x["Value"] for x in desc.get("FinalMetricDataList", [])}
    return {"job_s": (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds(), "wall_s": wall,
            "wps": float(m[1]) if m else float("nan"), "loop_s": float(m[2]) if m else float("nan"),
            "artifact": artifact, "metrics": metrics}


def extract(artifact: bytes, member: str, folder: Path) -> Path:
    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        tar.extract(member, folder, filter="data")
    return folder / member


def bench_word2vec(srv, args, tmp: Path) -> None:
    lines = word2vec_corpus(args.sentences, entities=args.entities, seed=0)
    n_words = sum(len(line.split()) for line in lines)
    dim, epochs = args.dim, args.epochs
    print(f"# Word2Vec: {len(lines)} sentences about {args.entities} entities x 2 forms, {n_words} words; "
          f"vector_dim {dim}, window 5, 5 negatives, sampling 1e-4, min_count 5, {epochs} epochs, learning rate 0.05",
          flush=True)
    hps = {"mode": "skipgram", "vector_dim": dim, "window_size": 5, "negative_samples": 5,
           "sampling_threshold": 1e-4, "min_count": 5, "epochs": epochs, "learning_rate": 0.05,
           "evaluation": "false"}
    rows = []
    for mode in ("skipgram", "batch_skipgram"):
        ours = run_job(srv, f"bt-w2v-{mode.replace('_', '-')}-{int(time.time())}", {**hps, "mode": mode},
                       {"train": ("\n".join(lines) + "\n").encode()}, args.timeout)
        from shipyard.algorithms.blazingtext.fasttext_format import FastTextModel

        model = FastTextModel.load(extract(ours["artifact"], "vectors.bin", tmp / mode))
        rho, analogy = score_vectors(model.word_vector, args.entities)
        rows.append((f"Shipyard {mode} (job)", rho, analogy, ours["loop_s"], ours["wps"], ours))
    from gensim.models import Word2Vec

    t = time.perf_counter()
    g = Word2Vec([line.split() for line in lines], vector_size=dim, window=5, negative=5, sample=1e-4,
                 min_count=5, epochs=epochs, alpha=0.05, sg=1, workers=1, seed=1)
    gs = time.perf_counter() - t
    g_rho, g_analogy = score_vectors(lambda w: g.wv[w], args.entities)
    print(f"{'model':30s} {'rho':>6s} {'analogy':>8s} {'train s':>8s} {'words/s':>10s}")
    for label, rho, analogy, secs, wps, ours in rows:
        print(f"{label:30s} {rho:6.3f} {analogy:8.3f} {secs:8.2f} {wps:10.0f}   (job {ours['job_s']:.2f} s, "
              f"CreateTrainingJob->Completed {ours['wall_s']:.2f} s)")
    print(f"{'gensim Word2Vec sg (1 worker)':30s} {g_rho:6.3f} {g_analogy:8.3f} {gs:8.2f} "
          f"{n_words * epochs / gs:10.0f}")
    for label, rho, analogy, secs, wps, ours in rows:
        print(f"ratio {label} / gensim: rho x{rho / g_rho:.3f}, analogy x{analogy / max(g_analogy, 1e-9):.3f}, "
              f"words/s x{wps / (n_words * epochs / gs):.2f}, loop time x{secs / gs:.2f}, job time "
              f"x{ours['job_s'] / gs:.2f}")
    print(flush=True)


def bench_supervised(srv, args, tmp: Path) -> None:
    fasttext = _fasttext()
    train = labelled_text(args.docs, classes=8, words_per_class=100, shared=400, length=30, topical=0.2, seed=0)
    val = labelled_text(args.docs // 10, classes=8, words_per_class=100, shared=400, length=30, topical=0.2,
                        seed=1)
    test = labelled_text(args.docs // 5, classes=8, words_per_class=100, shared=400, length=30, topical=0.2,
                         seed=2)
    paths = {}
    for name, docs in (("train", train), ("validation", val), ("test", test)):
        paths[name] = tmp / f"{name}.txt"
        paths[name].write_text(fasttext_lines(docs))
    epochs, lr, ngrams, buckets, dim = 10, 0.05, 2, 200000, 10
    print(f"# supervised: {len(train)} train / {len(val)} validation / {len(test)} test documents, 8 classes; "
          f"vector_dim {dim}, word_ngrams {ngrams}, buckets {buckets}, {epochs} epochs, learning rate {lr}",
          flush=True)
    ours = run_job(srv, f"bt-sup-{int(time.time())}",
                   {"mode": "supervised", "vector_dim": dim, "word_ngrams": ngrams, "buckets": buckets,
                    "epochs": epochs, "learning_rate": lr, "min_count": 1},
                   {"train": paths["train"].read_bytes(), "validation": paths["validation"].read_bytes()},
                   args.timeout)
    ours_model = fasttext.load_model(str(extract(ours["artifact"], "model.bin", tmp / "ours")))
    ours_acc = ours_model.test(str(paths["test"]))[1]
    t = time.perf_counter()
    ft = fasttext.train_supervised(input=str(paths["train"]), lr=lr, epoch=epochs, wordNgrams=ngrams, dim=dim,
                                   minCount=1, bucket=buckets, loss="softmax", thread=1, verbose=0)
    fs = time.perf_counter() - t
    ft_acc = ft.test(str(paths["test"]))[1]
    print(f"{'model':30s} {'test acc':>8s} {'train s':>8s}")
    print(f"{'Shipyard supervised (job)':30s} {ours_acc:8.4f} {ours['loop_s']:8.2f}   (validation:accuracy "
          f"{ours['metrics'].get('validation:accuracy', float('nan')):.4f}; job {ours['job_s']:.2f} s, "
          f"CreateTrainingJob->Completed {ours['wall_s']:.2f} s, {ours['wps']:.0f} words/s)")
    print(f"{'fastText train_supervised (1 thread)':30s} {ft_acc:8.4f} {fs:8.2f}")
    print(f"ratio ours / fastText: accuracy x{ours_acc / ft_acc:.4f}, loop time x{ours['loop_s'] / fs:.2f}, "
          f"job time x{ours['job_s'] / fs:.2f}")
    print(flush=True)


def _fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None
    return fasttext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small data (about a minute)")
    ap.add_argument("--sentences", type=int, default=200_000)
    ap.add_argument("--entities", type=int, default=300)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    if args.quick:
        args.sentences, args.entities, args.docs, args.dim = 30_000, 100, 10_000, 50
    from shipyard.testing.server import ShipyardProcess

    with tempfile.TemporaryDirectory() as tmp:
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            srv.client("s3").create_bucket(Bucket=BUCKET)
            bench_word2vec(srv, args, Path(tmp))
            bench_supervised(srv, args, Path(tmp))
        finally:
            srv.stop(kill_children=True)
    print("(Shipyard's 'train s' is the training loop inside the job, one CPU thread; the job time adds starting "
          "Python and torch, reading the channel and writing the artifacts; the peers run in this process)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
