"""Shipyard in one minute: start a server, train built-in XGBoost, deploy it, predict, clean up.

Run with ``make demo`` (or ``.venv/bin/python examples/demo.py``). Everything happens on 127.0.0.1 in a
temporary home folder that is removed at the end; the script checks that no process it started is left.
The ML code in the middle is plain Shipyard SDK code over boto3 — the same calls work against AWS.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shipyard.sdk import CSVDeserializer, CSVSerializer, Estimator, Session, TrainingInput
from shipyard.testing.server import ShipyardProcess, kill_processes_under, processes_under

N_FEATURES = 8


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def make_dataset(folder: Path, seed: int = 7) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A synthetic binary classification problem: label = [w.x + noise > 0]. CSV, label first, no header."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=N_FEATURES)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, N_FEATURES))
        y = (x @ w + 0.25 * rng.normal(size=n) > 0).astype(int)
        return x, y

    paths = []
    for name, n in (("train", 2000), ("validation", 500)):
        x, y = sample(n)
        path = folder / name / f"{name}.csv"
        path.parent.mkdir(parents=True)
        np.savetxt(path, np.column_stack([y, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * N_FEATURES)
        paths.append(path)
    x_test, y_test = sample(10)
    return paths[0], paths[1], x_test, y_test


def run_demo(server: ShipyardProcess, workdir: Path) -> None:
    key_id, secret = server.keys()
    session = Session(endpoint_url=server.url, access_key_id=key_id, secret_access_key=secret,
                      region=server.region)

    step("Generating a labelled data set and uploading it through the S3 API")
    train_csv, val_csv, x_test, y_test = make_dataset(workdir)
    bucket = session.default_bucket()
    train_uri = session.upload_data(train_csv.parent, bucket=bucket, key_prefix="demo/train")
    val_uri = session.upload_data(val_csv.parent, bucket=bucket, key_prefix="demo/validation")
    print(f"train      -> {train_uri}\nvalidation -> {val_uri}")

    step("Training built-in XGBoost (binary:logistic, 50 rounds)")
    estimator = Estimator(
        "xgboost", session=session, instance_type="ml.m5.large",
        hyperparameters={"objective": "binary:logistic", "eval_metric": "auc", "num_round": 50,
                         "max_depth": 4, "eta": 0.2},
        output_path=f"s3://{bucket}/demo/output")
    started = time.monotonic()
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv"),
                   "validation": TrainingInput(val_uri, content_type="text/csv")}, logs=True)
    print(f"training job {estimator.latest_training_job} completed in {time.monotonic() - started:.1f} s")
    print(f"model artifact: {estimator.model_data}")
    metrics = estimator.final_metrics
    for name, value in sorted(metrics.items()):
        print(f"metric {name} = {value:.4f}")
    if "validation:auc" not in metrics:
        raise SystemExit(f"expected a validation:auc metric, got {sorted(metrics)}")

    step("Deploying the model to an endpoint")
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                                 serializer=CSVSerializer(), deserializer=CSVDeserializer())
    try:
        step(f"Predicting {len(x_test)} rows")
        rows = predictor.predict(x_test)
        scores = [float(v) for row in rows for v in row if v.strip()]
        if len(scores) != len(x_test):
            raise SystemExit(f"expected {len(x_test)} predictions, got {len(scores)}: {rows}")
        correct = 0
        for i, (score, label) in enumerate(zip(scores, y_test)):
            predicted = int(score >= 0.5)
            correct += predicted == label
            print(f"prediction row={i} label={label} score={score:.4f} predicted={predicted}")
        print(f"predictions correct: {correct}/{len(scores)}")
    finally:
        step("Deleting the endpoint, its configuration and the model")
        predictor.delete_endpoint(delete_endpoint_config=True)
        predictor.delete_model()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # deletion is asynchronous: wait until the endpoint is gone
        names = [e["EndpointName"] for e in session.sagemaker_client.list_endpoints()["Endpoints"]]
        if predictor.endpoint_name not in names:
            break
        time.sleep(0.25)
    print(f"endpoint {predictor.endpoint_name} deleted")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="shipyard-demo-") as tmp:
        home, workdir = Path(tmp) / "home", Path(tmp) / "data"
        workdir.mkdir()
        step(f"Starting a Shipyard server (home {home})")
        server = ShipyardProcess(home).start()
        print(f"server listening on {server.url} (pid {server.pid})")
        failed = None
        try:
            run_demo(server, workdir)
        except Exception as exc:  # noqa: BLE001 - report in one line, still clean up below
            failed = f"{type(exc).__name__}: {exc}"
        finally:
            step("Stopping the server")
            server.stop()
            deadline = time.monotonic() + 10
            leftover = processes_under(home)
            while leftover and time.monotonic() < deadline:  # model servers exit after their endpoint
                time.sleep(0.2)
                leftover = processes_under(home)
            if leftover:
                kill_processes_under(home)
                print(f"warning: processes still running after stop were killed: {leftover}", file=sys.stderr)
        if failed:
            log = home / "server.log"
            tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
            print("\n".join(["", "last server log lines:", *tail, "", f"Demo FAILED: {failed}"]), file=sys.stderr)
        if leftover or failed:
            return 1
        print("no Shipyard process left running")
    print("\nDemo finished: trained, deployed, predicted and cleaned up.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
