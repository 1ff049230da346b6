"""LDA and NTM against scikit-learn's LatentDirichletAllocation: topic coherence, topic recovery and time.

The data: bag-of-words documents drawn from known topics (LDA's generative process, no corpus can be
downloaded), split into a training set and held-out documents. Shipyard's LDA (spectral) and NTM (VAE) run as
a user runs them: CreateTrainingJob against a Shipyard server (images ``lda`` and ``ntm``, sparse
RecordIO-protobuf channels); their topics are read back from the job's ``model.tar.gz``. scikit-learn's
LatentDirichletAllocation (variational Bayes, batch) runs in this process on the same training counts.

Scores, each on every model's topics:

* NPMI coherence of each topic's top 10 words, from document co-occurrence in the held-out documents
  (higher is better, in [-1, 1]), and UMass coherence (higher is better, <= 0);
* recovery: the mean cosine of each true topic with its best one-to-one matched learned topic (the data's
  topics are known, which real corpora do not offer);
* time: the job's training time (TrainingEndTime - TrainingStartTime) for ours, fit time for scikit-learn.

Run: ``python bench/bench_topic_models.py [--quick]``. Ratios are ours / scikit-learn.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_THREADS", "1"))

import numpy as np  # noqa: E402

BUCKET = "bench-topic-models"
TOP = 10


def top_words(topics: np.ndarray, n: int = TOP) -> np.ndarray:
    return np.argsort(-topics, axis=1)[:, :n]


def coherence(topics: np.ndarray, docs: np.ndarray) -> tuple[float, float]:
    """(mean NPMI, mean UMass) of each topic's top words over the documents' word occurrence."""
    present = (docs > 0).astype(np.float64)
    n = len(present)
    df = present.sum(axis=0)
    co = present.T @ present
    npmi, umass = [], []
    eps = 1e-12
    for words in top_words(topics):
        for a in range(len(words)):
            for b in range(a + 1, len(words)):
                i, j = words[a], words[b]  # i ranks above j
                p_ij, p_i, p_j = co[i, j] / n, df[i] / n, df[j] / n
                if p_ij <= 0:
                    npmi.append(-1.0)
                else:
                    npmi.append(np.log(p_ij / max(p_i * p_j, eps)) / -np.log(p_ij))
                umass.append(np.log((co[i, j] + 1.0) / max(df[i], 1.0)))
    return float(np.mean(npmi)), float(np.mean(umass))


def recordio(X: np.ndarray) -> bytes:
    import scipy.sparse as sp

    from shipyard.io.protobuf import write_recordio_protobuf

    buf = io.BytesIO()
    write_recordio_protobuf(buf, sp.csr_matrix(X.astype(np.float32)))
    return buf.getvalue()


def run_job(srv, image: str, hps: dict, channels: dict[str, np.ndarray], timeout: float) -> dict:
    s3, sm = srv.client("s3"), srv.client("sagemaker")
    config = []
    for name, X in channels.items():
        s3.put_object(Bucket=BUCKET, Key=f"{image}/{name}/part-0", Body=recordio(X))
        config.append({"ChannelName": name, "ContentType": "application/x-recordio-protobuf", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{image}/{name}/",
                             "S3DataDistributionType": "FullyReplicated"}}})
    name = f"{image}-bench-{int(time.time())}"
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name, AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/Bench", HyperParameters=hps, InputDataConfig=config,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": int(timeout)})
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    if desc["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"{image} job {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
    bucket, key = desc["ModelArtifacts"]["S3ModelArtifacts"][len("s3://"):].split("/", 1)
    tar = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        member = t.extractfile("model_algo-1")
        assert member is not None
        model = member.read()
    return {"model": model, "job_s": (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds(),
            "wall_s": wall}


def lda_topics(model: bytes) -> np.ndarray:
    from shipyard.io import ndarray

    _alpha, beta = ndarray.loads(model)
    return np.asarray(beta)


def ntm_topics(model: bytes) -> np.ndarray:
    from shipyard.algorithms.builtin import read_npz
    from shipyard.algorithms.ntm.model import topic_words

    _, arrays = read_npz(io.BytesIO(model))
    return topic_words(arrays)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a small corpus (about a minute)")
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--words", type=int, default=100, help="words per document")
    ap.add_argument("--ntm-epochs", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=1200)
    args = ap.parse_args()
    if args.quick:
        args.topics, args.vocab, args.docs, args.words, args.ntm_epochs = 5, 200, 2000, 60, 15
    from sklearn.decomposition import LatentDirichletAllocation

    from shipyard.algorithms.lda.corpus import best_match_cosine, generate
    from shipyard.testing.server import ShipyardProcess

    k, V = args.topics, args.vocab
    train = generate(args.docs, k, V, words_per_doc=args.words, seed=0)
    held = generate(max(500, args.docs // 5), k, V, words_per_doc=args.words, seed=1, topics=train.topics)
    print(f"# {args.docs} training documents, {len(held.counts)} held-out, vocabulary {V}, {k} true topics, "
          f"{args.words} words per document", flush=True)

    t = time.perf_counter()
    sk = LatentDirichletAllocation(n_components=k, learning_method="batch", max_iter=20, random_state=0)
    sk.fit(train.counts)
    sk_s = time.perf_counter() - t
    sk_topics = sk.components_ / sk.components_.sum(axis=1, keepdims=True)

    base = {"num_topics": str(k), "feature_dim": str(V)}
    with tempfile.TemporaryDirectory() as tmp:
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            srv.client("s3").create_bucket(Bucket=BUCKET)
            lda = run_job(srv, "lda", {**base, "mini_batch_size": "1000", "alpha0": "1.0"},
                          {"train": train.counts}, args.timeout)
            cut = int(0.9 * args.docs)
            ntm = run_job(srv, "ntm", {**base, "mini_batch_size": "64", "epochs": str(args.ntm_epochs),
                                       "optimizer": "adam", "learning_rate": "0.01"},
                          {"train": train.counts[:cut], "validation": train.counts[cut:]}, args.timeout)
        finally:
            srv.stop(kill_children=True)

    rows = [("Shipyard LDA (CreateTrainingJob)", lda_topics(lda["model"]), lda["job_s"], lda["wall_s"]),
            ("Shipyard NTM (CreateTrainingJob)", ntm_topics(ntm["model"]), ntm["job_s"], ntm["wall_s"]),
            ("sklearn LatentDirichletAllocation", sk_topics, sk_s, sk_s)]
    true_npmi, true_umass = coherence(train.topics, held.counts)
    print(f"{'model':36s} {'NPMI':>7s} {'UMass':>7s} {'recovery':>8s} {'train s':>8s} {'wall s':>7s}")
    scores = {}
    for label, topics, secs, wall in rows:
        npmi, umass = coherence(topics, held.counts)
        rec = best_match_cosine(topics, train.topics)
        scores[label] = (npmi, umass, rec, secs)
        print(f"{label:36s} {npmi:7.4f} {umass:7.4f} {rec:8.4f} {secs:8.2f} {wall:7.2f}")
    print(f"{'(the true topics)':36s} {true_npmi:7.4f} {true_umass:7.4f} {1.0:8.4f}")
    sk_row = scores["sklearn LatentDirichletAllocation"]
    print("ratios ours / sklearn (NPMI and recovery: > 1 is better; UMass: < 1 is better; time: < 1 is faster):")
    for label in list(scores)[:2]:
        npmi, umass, rec, secs = scores[label]
        print(f"  {label:34s} NPMI x{npmi / sk_row[0]:.3f}  UMass x{umass / sk_row[1]:.3f}  "
              f"recovery x{rec / sk_row[2]:.3f}  time x{secs / max(sk_row[3], 1e-6):.2f}")
    print("(our times are the jobs' training times: a training program in its own process, including starting "
          "Python (and torch for NTM) and reading the channel; scikit-learn runs in this process)", file=sys.stderr)


if __name__ == "__main__":
    main()
