"""XGBoost's legacy binary model format (xgboost < 1.0 ``save_model``/``save_raw``, and what SageMaker's
0.90 containers pickle inside the Booster), converted to the JSON model format current xgboost loads.

Layout (little-endian, ``dmlc::Stream``), following xgboost 0.90's learner.cc / gbtree_model.h / tree_model.h:

* optional ``binf`` header;
* LearnerModelParam, 136 bytes: f32 base_score, u32 num_feature, i32 num_class, i32 contain_extra_attrs,
  i32 contain_eval_metrics, reserved;
* objective name and booster name: ``u64 length`` + bytes each (a length >= 2^32 carries an extra int32);
* GBTreeModelParam, 160 bytes: i32 num_trees, i32 num_roots, i32 num_feature, i32 pad, i64 num_pbuffer,
  i32 num_output_group, i32 size_leaf_vector, i32 reserved[32];
* per tree: TreeParam (148 bytes: i32 num_roots, num_nodes, num_deleted, max_depth, num_feature,
  size_leaf_vector, reserved[31]), num_nodes Nodes (i32 parent (bit 31: is a left child), i32 left,
  i32 right, u32 split index (bit 31: default left), f32 split condition or leaf value), num_nodes
  RTreeNodeStat (f32 loss_chg, f32 sum_hess, f32 base_weight, i32 leaf_child_cnt);
* i32 tree_info[num_trees] (the output group of each tree);
* then, optionally, attributes (``u64 n`` + n string pairs) and the rest, which prediction does not need.

Only the ``gbtree`` booster is converted (``gblinear`` and ``dart`` are reported as unsupported).
"""

from __future__ import annotations

import json
import struct

import numpy as np

_LEARNER_PARAM = 136
_GBTREE_PARAM = 160
_TREE_PARAM = 148
_NODE = np.dtype([("parent", "<i4"), ("left", "<i4"), ("right", "<i4"), ("sindex", "<u4"), ("info", "<f4")])
_STAT = np.dtype([("loss_chg", "<f4"), ("sum_hess", "<f4"), ("base_weight", "<f4"), ("leaf_child_cnt", "<i4")])

# objectives renamed since 0.90, and the parameter block each objective's JSON form carries
_RENAMED = {"reg:linear": "reg:squarederror", "binary:logitraw": "binary:logitraw"}
_PARAM_BLOCK = {
    "reg:squarederror": ("reg_loss_param", {"scale_pos_weight": "1"}),
    "reg:squaredlogerror": ("reg_loss_param", {"scale_pos_weight": "1"}),
    "reg:logistic": ("reg_loss_param", {"scale_pos_weight": "1"}),
    "reg:pseudohubererror": ("pseudo_huber_param", {"huber_slope": "1"}),
    "binary:logistic": ("reg_loss_param", {"scale_pos_weight": "1"}),
    "binary:logitraw": ("reg_loss_param", {"scale_pos_weight": "1"}),
    "binary:hinge": (None, {}),
    "count:poisson": ("poisson_regression_param", {"max_delta_step": "0.7"}),
    "reg:gamma": (None, {}),
    "reg:tweedie": ("tweedie_regression_param", {"tweedie_variance_power": "1.5"}),
    "survival:cox": (None, {}),
    "multi:softmax": ("softmax_multiclass_param", {}),
    "multi:softprob": ("softmax_multiclass_param", {}),
}


class LegacyFormatError(ValueError):
    """Not (a supported variant of) XGBoost's legacy binary format."""


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise LegacyFormatError(f"truncated legacy binary model: wanted {n} bytes at offset {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def string(self, limit: int = 1 << 20) -> str:
        (n,) = self.unpack("<Q")
        if n >= 1 << 32:  # a very old writer: the length sits in the upper half, then an int32 gap
            self.unpack("<i")
            n >>= 32
        if n > limit:
            raise LegacyFormatError(f"implausible string length {n} at offset {self.pos - 8}")
        return self.take(n).decode("utf-8", "replace")

    def array(self, dtype: np.dtype, count: int) -> np.ndarray:
        return np.frombuffer(self.take(dtype.itemsize * count), dtype=dtype, count=count)


def parse(data: bytes) -> dict:
    """The model as {"base_score", "num_feature", "num_class", "objective", "trees": [...], "tree_info",
    "attributes"}; each tree holds numpy arrays of its nodes and stats."""
    r = _Reader(bytes(data))
    if data[:4] == b"binf":
        r.take(4)
    base_score, num_feature, num_class, extra_attrs, _eval_metrics = r.unpack("<fIiii")
    r.take(_LEARNER_PARAM - 20)
    objective = r.string(256)
    booster = r.string(256)
    if booster != "gbtree":
        raise LegacyFormatError(f"the legacy model uses the {booster!r} booster; only gbtree models convert")
    num_trees, _roots, gb_features, _pad, _pbuffer, num_groups, _leaf_vec = r.unpack("<iiiiqii")
    r.take(_GBTREE_PARAM - 32)
    if not 0 <= num_trees < 1 << 24:
        raise LegacyFormatError(f"implausible tree count {num_trees}")
    trees = []
    for _ in range(num_trees):
        t_roots, num_nodes, num_deleted, _depth, t_features, t_leaf_vec = r.unpack("<iiiiii")
        r.take(_TREE_PARAM - 24)
        if not 0 < num_nodes < 1 << 28:
            raise LegacyFormatError(f"implausible node count {num_nodes} in tree {len(trees)}")
        nodes = r.array(_NODE, num_nodes)
        stats = r.array(_STAT, num_nodes)
        trees.append({"nodes": nodes, "stats": stats, "num_deleted": num_deleted,
                      "num_feature": t_features or gb_features or num_feature})
    tree_info = r.array(np.dtype("<i4"), num_trees).tolist()
    attributes: dict[str, str] = {}
    if extra_attrs:
        try:
            (n,) = r.unpack("<Q")
            for _ in range(min(n, 1 << 16)):
                key = r.string()
                attributes[key] = r.string()
        except LegacyFormatError:
            attributes = {}
    return {"base_score": float(base_score), "num_feature": int(num_feature or gb_features),
            "num_class": int(num_class), "num_output_group": int(num_groups), "objective": objective,
            "trees": trees, "tree_info": tree_info, "attributes": attributes}


def _objective(name: str, num_class: int) -> dict:
    name = _RENAMED.get(name, name)
    block, params = _PARAM_BLOCK.get(name, (None, {}))
    out: dict = {"name": name}
    if block == "softmax_multiclass_param":
        params = {"num_class": str(max(num_class, 1))}
    if block:
        out[block] = params
    return out


def to_json(model: dict) -> bytes:
    """A JSON model (the xgboost 1.7 schema, which later versions load) equivalent to a parsed legacy one."""
    trees_json = []
    for i, t in enumerate(model["trees"]):
        nodes, stats = t["nodes"], t["stats"]
        leaf = nodes["left"] == -1
        parents = (nodes["parent"].astype(np.int64) & 0x7FFFFFFF).tolist()
        trees_json.append({
            "base_weights": stats["base_weight"].astype(float).tolist(),
            "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
            "default_left": ((nodes["sindex"] >> 31) & 1).astype(int).tolist(),
            "id": i,
            "left_children": nodes["left"].astype(int).tolist(),
            "loss_changes": stats["loss_chg"].astype(float).tolist(),
            "parents": parents,
            "right_children": nodes["right"].astype(int).tolist(),
            "split_conditions": nodes["info"].astype(float).tolist(),
            "split_indices": np.where(leaf, 0, nodes["sindex"] & 0x7FFFFFFF).astype(int).tolist(),
            "split_type": [0] * len(nodes),
            "sum_hessian": stats["sum_hess"].astype(float).tolist(),
            "tree_param": {"num_deleted": str(t["num_deleted"]), "num_feature": str(t["num_feature"]),
                           "num_nodes": str(len(nodes)), "size_leaf_vector": "1"},
        })
    groups = max(model["num_output_group"], 1)
    n = len(trees_json)
    per_round = groups  # one tree per output group per round (num_parallel_tree 1 in 0.90's defaults)
    indptr = list(range(0, n + 1, per_round)) if n % per_round == 0 else [0, n]
    doc = {
        "learner": {
            "attributes": {k: v for k, v in model["attributes"].items() if k in ("best_iteration", "best_score",
                                                                                   "best_ntree_limit")},
            "feature_names": [], "feature_types": [],
            "gradient_booster": {
                "model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(n)},
                          "iteration_indptr": indptr, "tree_info": model["tree_info"], "trees": trees_json},
                "name": "gbtree",
            },
            "learner_model_param": {"base_score": repr(model["base_score"]), "boost_from_average": "0",
                                    "num_class": str(model["num_class"]), "num_feature": str(model["num_feature"]),
                                    "num_target": "1"},
            "objective": _objective(model["objective"], model["num_class"]),
        },
        "version": [1, 7, 0],
    }
    return json.dumps(doc).encode()


def convert(data: bytes) -> bytes:
    return to_json(parse(data))
