"""Script-mode training for the README: logistic regression on CSV (label first, no header).

Run by the SageMaker scikit-learn container contract: hyperparameters arrive as ``--name value`` arguments
(a one-letter name would arrive as ``-C``, so this script uses a longer one), data in ``SM_CHANNEL_TRAIN``,
and the model goes to ``SM_MODEL_DIR``. Hosting calls ``model_fn`` and ``predict_fn``.
"""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    return model.predict_proba(np.asarray(data, dtype=float).reshape(-1, model.n_features_in_))[:, 1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--regularization", type=float, default=1.0)  # the inverse strength, sklearn's C
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    args, _ = parser.parse_known_args()
    files = sorted(glob.glob(os.path.join(args.train, "**", "*.csv"), recursive=True))
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    model = LogisticRegression(C=args.regularization).fit(data[:, 1:], data[:, 0])
    print(f"regularization={args.regularization} train_accuracy={model.score(data[:, 1:], data[:, 0]):.4f}",
          flush=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
