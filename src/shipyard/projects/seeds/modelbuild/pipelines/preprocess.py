"""Make a small regression data set and split it: train.csv and test.csv, label in the first column (the CSV
layout SageMaker's built-in XGBoost reads)."""

import argparse
import os

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=600)
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()

rng = np.random.default_rng(args.seed)
features = rng.normal(size=(args.rows, 4))
label = 3.0 * features[:, 0] - 2.0 * features[:, 1] + 0.5 * features[:, 2] + rng.normal(scale=0.1, size=args.rows)
data = np.column_stack([label, features])
split = int(args.rows * 0.8)
base = "/opt/ml/processing"
for name, part in (("train", data[:split]), ("test", data[split:])):
    os.makedirs(f"{base}/{name}", exist_ok=True)
    np.savetxt(f"{base}/{name}/{name}.csv", part, delimiter=",", fmt="%.6f")
print(f"wrote {split} training rows and {args.rows - split} test rows")
