"""A small CART decision tree in numpy (gini impurity, best-first growth up to ``max_leaf_nodes`` leaves):
what the example's scikit-learn DecisionTreeClassifier does, for an image without scikit-learn."""
import json

import numpy as np


def _gini(counts):
    total = counts.sum()
    return 1.0 - ((counts / total) ** 2).sum() if total else 0.0


def _best_split(x, y, classes):
    best = None
    for f in range(x.shape[1]):
        order = np.argsort(x[:, f], kind="stable")
        xs, ys = x[order, f], y[order]
        left = np.zeros(len(classes))
        right = np.array([(ys == c).sum() for c in classes], dtype=float)
        for i in range(len(ys) - 1):
            k = classes.index(ys[i])
            left[k] += 1
            right[k] -= 1
            if xs[i] == xs[i + 1]:
                continue
            score = (i + 1) * _gini(left) + (len(ys) - i - 1) * _gini(right)
            if best is None or score < best[0]:
                best = (score, f, (xs[i] + xs[i + 1]) / 2)
    return best


def fit(x, y, max_leaf_nodes=5):
    classes = sorted(set(y.tolist()))
    root = {"rows": np.arange(len(y))}
    leaves = [root]
    while len(leaves) < max_leaf_nodes:
        gains = []
        for leaf in leaves:
            rows = leaf["rows"]
            counts = np.array([(y[rows] == c).sum() for c in classes], dtype=float)
            split = _best_split(x[rows], y[rows], classes) if len(rows) > 1 else None
            if split is not None:
                gains.append((len(rows) * _gini(counts) - split[0], id(leaf), leaf, split))
        if not gains:
            break
        gain, _, leaf, (_, feature, threshold) = max(gains, key=lambda g: g[:2])
        if gain <= 0:
            break
        rows = leaf.pop("rows")
        leaf.update(feature=int(feature), threshold=float(threshold),
                    left={"rows": rows[x[rows, feature] <= threshold]},
                    right={"rows": rows[x[rows, feature] > threshold]})
        leaves.remove(leaf)
        leaves += [leaf["left"], leaf["right"]]
    for leaf in leaves:
        labels = y[leaf.pop("rows")].tolist()
        leaf["label"] = max(set(labels), key=labels.count)
    return root


def predict(tree, x):
    out = []
    for row in x:
        node = tree
        while "label" not in node:
            node = node["left"] if row[node["feature"]] <= node["threshold"] else node["right"]
        out.append(node["label"])
    return out


def dumps(tree):
    return json.dumps(tree)


def loads(text):
    return json.loads(text)
