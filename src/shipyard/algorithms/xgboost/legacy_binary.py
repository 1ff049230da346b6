"""XGBoost's legacy binary model format (xgboost < 1.0 ``save_model``/``save_raw``, and what SageMaker's
0.90 containers pickle inside the Booster), converted to the JSON model format current xgboost loads
(:func:`convert`), and back (:func:`from_json`): images before 1.3 evaluate a pickled Booster with their own
xgboost (0.90 - 1.2), which reads this format but not the UBJSON state of a current Booster.

Layout (little-endian, ``dmlc::Stream``), following xgboost 0.90's learner.cc / gbtree_model.h / tree_model.h:

* optional ``binf`` header;
* LearnerModelParam, 136 bytes: f32 base_score, u32 num_feature, i32 num_class, i32 contain_extra_attrs,
  i32 contain_eval_metrics, u32 major_version, u32 minor_version (1.0+; zero before), reserved. Before 1.0
  (major_version 0) base_score is in margin space (the objective's ProbToMargin already applied: logit for
  logistic objectives, log for poisson/gamma/tweedie/cox); 1.0 and later store the user's value;
* objective name and booster name: ``u64 length`` + bytes each (a length >= 2^32 carries an extra int32);
* GBTreeModelParam, 160 bytes: i32 num_trees, i32 num_roots, i32 num_feature, i32 pad, i64 num_pbuffer,
  i32 num_output_group, i32 size_leaf_vector, i32 reserved[32];
* per tree: TreeParam (148 bytes: i32 num_roots, num_nodes, num_deleted, max_depth, num_feature,
  size_leaf_vector, reserved[31]), num_nodes Nodes (i32 parent (bit 31: is a left child), i32 left,
  i32 right, u32 split index (bit 31: default left), f32 split condition or leaf value), num_nodes
  RTreeNodeStat (f32 loss_chg, f32 sum_hess, f32 base_weight, i32 leaf_child_cnt);
* i32 tree_info[num_trees] (the output group of each tree);
* then, when contain_extra_attrs, attributes (``u64 n`` + n string pairs); for ``count:poisson`` 0.90 then
  writes max_delta_step as one more string (1.0+ read it from the ``count_poisson_max_delta_step`` attribute);
  the rest prediction does not need.

Only the ``gbtree`` booster is converted, either way (``gblinear`` and ``dart`` are reported as unsupported).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

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


# how each objective maps base_score to the margin (ProbToMargin); identity for the rest. binary:logitraw
# took a logit in 1.0 - 1.2 (it inherited the logistic one) and takes none in current xgboost.
_LOGIT = frozenset({"binary:logistic", "reg:logistic"})
_LOG = frozenset({"count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft"})
SERIALISATION_HEADER = b"CONFIG-offset:"  # xgboost 1.0 - 1.2 pickle: header, i64 offset, binary model, config


def _logit_for(objective: str, version_1x: bool) -> bool:
    name = _RENAMED.get(objective, objective)
    return name in _LOGIT or (version_1x and name == "binary:logitraw")


def prob_to_margin(objective: str, base_score: float, version_1x: bool = False) -> float:
    """The margin a user-space base_score means (to current xgboost, or to 1.0 - 1.2 with ``version_1x``)."""
    name = _RENAMED.get(objective, objective)
    if _logit_for(name, version_1x):
        p = min(max(base_score, 1e-16), 1 - 1e-16)
        return float(np.log(p / (1 - p)))
    if name in _LOG:
        return float(np.log(max(base_score, 1e-16)))
    return float(base_score)


def margin_to_prob(objective: str, margin: float, version_1x: bool = False) -> float:
    """The inverse of :func:`prob_to_margin`: the user-space base_score that gives ``margin``."""
    name = _RENAMED.get(objective, objective)
    if _logit_for(name, version_1x):
        return float(1 / (1 + np.exp(-np.float64(margin))))
    if name in _LOG:
        return float(np.exp(np.float64(margin)))
    return float(margin)


class LegacyFormatError(ValueError):
    """Not (a supported variant of) XGBoost's legacy binary format."""


class LegacyExportError(ValueError):
    """A model that XGBoost's legacy binary format cannot express (gblinear, dart, categorical splits, ...)."""


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
    data = bytes(data)
    if data.startswith(SERIALISATION_HEADER):  # pickled by xgboost 1.0 - 1.2: the binary model, then config
        (size,) = struct.unpack_from("<q", data, len(SERIALISATION_HEADER)) if len(data) >= 22 else (-1,)
        if not 0 < size <= len(data) - 22:
            raise LegacyFormatError("a serialised xgboost 1.x Booster with an invalid model size")
        data = data[22:22 + size]
    r = _Reader(data)
    if data[:4] == b"binf":
        r.take(4)
    base_score, num_feature, num_class, extra_attrs, _eval_metrics, major = r.unpack("<fIiiiI")
    r.take(_LEARNER_PARAM - 24)
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
    if major == 0:  # pre-1.0: base_score in margin space (1.x's own loader converts it the same way)
        base_score = margin_to_prob(objective, base_score)
    else:  # 1.0 - 1.2: user space, but their binary:logitraw applied a logit that current xgboost does not
        base_score = margin_to_prob(objective, prob_to_margin(objective, base_score, version_1x=True))
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


# --------------------------------------------------------------------------- current JSON -> legacy binary
# objectives an image's xgboost does not know, by the first version that has them, and what to name them
# instead for prediction (same transform of the margin): 0.90 - 1.2 load the model only with names they know
_ADDED_IN = {"reg:pseudohubererror": (1, 2), "reg:absoluteerror": (1, 7), "reg:quantileerror": (2, 0),
             "reg:squaredlogerror": (1, 0), "survival:aft": (1, 1)}
_SAME_TRANSFORM = {"reg:pseudohubererror": "reg:squarederror", "reg:absoluteerror": "reg:squarederror",
                   "reg:quantileerror": "reg:squarederror", "reg:squaredlogerror": "reg:squarederror"}


def legacy_objective(name: str, version: tuple[int, int] | None = None) -> str:
    """The objective name the legacy model carries, one that xgboost ``version`` (0.90 - 1.2) can create."""
    added = _ADDED_IN.get(name)
    if version is not None and added is not None and version < added:
        if name not in _SAME_TRANSFORM:
            raise LegacyExportError(f"objective {name!r} needs xgboost {added[0]}.{added[1]} or later; the image's "
                                    f"xgboost {version[0]}.{version[1]} cannot load such a model")
        return _SAME_TRANSFORM[name]
    return name


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _base_scores(learner_param: dict) -> list[float]:
    """xgboost 2+ writes base_score as a vector (``"[5E-1]"``, one per class for multi-class models)."""
    text = str(learner_param.get("base_score", "0.5")).strip().strip("[]")
    return [float(v) for v in text.split(",") if v.strip()] or [0.5]


def _tree_bytes(tree: dict, num_feature: int, leaf_offset: float) -> bytes:
    if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise LegacyExportError("a multi-target (vector-leaf) tree has no legacy binary form")
    if any(tree.get("split_type") or []) or tree.get("categories"):
        raise LegacyExportError("categorical splits have no legacy binary form (xgboost < 1.3 lacks them)")
    left = np.asarray(tree["left_children"], dtype=np.int64)
    n = len(left)
    if n == 0:
        raise LegacyExportError("a tree without nodes cannot be written")
    right = np.asarray(tree["right_children"], dtype=np.int64)
    parents = np.asarray(tree["parents"], dtype=np.int64)
    split_index = np.asarray(tree["split_indices"], dtype=np.int64)
    default_left = np.asarray(tree["default_left"], dtype=np.int64)
    nodes = np.zeros(n, dtype=_NODE)
    is_left = np.zeros(n, dtype=bool)
    internal = left >= 0
    is_left[left[internal]] = True
    root = (parents < 0) | (parents >= 0x7FFFFFFF)
    nodes["parent"] = np.where(root, -1, (parents | np.where(is_left, 1 << 31, 0)).astype(np.uint32).view(np.int32))
    nodes["left"], nodes["right"] = left, right
    nodes["sindex"] = (split_index & 0x7FFFFFFF) | (default_left << 31)  # deleted nodes: 0x7FFFFFFF | 1 << 31
    info = np.asarray(tree["split_conditions"], dtype=np.float64)
    nodes["info"] = np.where(internal, info, info + leaf_offset)
    stats = np.zeros(n, dtype=_STAT)
    stats["loss_chg"], stats["sum_hess"] = tree["loss_changes"], tree["sum_hessian"]
    stats["base_weight"] = tree["base_weights"]
    deleted = int(np.count_nonzero(nodes["sindex"] == 0xFFFFFFFF))
    param = struct.pack("<iiiiii", 1, n, deleted, 0, num_feature, 0) + bytes(_TREE_PARAM - 24)
    return param + nodes.tobytes() + stats.tobytes()


# the objective's JSON form in xgboost 1.0 - 1.2 (their config and "objective" attribute): its parameter block
_PARAM_BLOCK_1X = {
    "reg:squarederror": "reg_loss_param", "reg:squaredlogerror": "reg_loss_param", "reg:logistic": "reg_loss_param",
    "binary:logistic": "reg_loss_param", "binary:logitraw": "reg_loss_param",
    "count:poisson": "poisson_regression_param", "reg:tweedie": "tweedie_regression_param",
    "multi:softmax": "softmax_multiclass_param", "multi:softprob": "softmax_multiclass_param",
    "reg:pseudohubererror": "reg_loss_param",  # 1.2 has no huber_slope (fixed at 1; prediction ignores it)
    "survival:aft": "aft_loss_param",
}
_DEFAULTS_1X = {"reg_loss_param": {"scale_pos_weight": "1"}, "poisson_regression_param": {"max_delta_step": "0.7"},
                "tweedie_regression_param": {"tweedie_variance_power": "1.5"},
                "aft_loss_param": {"aft_loss_distribution": "normal", "aft_loss_distribution_scale": "1"}}


def _objective_1x(name: str, current: dict, num_class: int) -> dict:
    """The objective as xgboost 1.0 - 1.2 configure it, with the values the current model carries."""
    if name.startswith("rank:"):
        return {"name": name, "lambda_rank_param": {"fix_list_weight": "0", "num_pairsample": "1"}}
    block = _PARAM_BLOCK_1X.get(name)
    if block is None:
        return {"name": name}
    if block == "softmax_multiclass_param":
        return {"name": name, block: {"num_class": str(max(num_class, 1))}}
    values = dict(_DEFAULTS_1X[block])
    values.update({k: str(v) for k, v in (current.get(block) or {}).items() if k in values})
    return {"name": name, block: values}


@dataclass
class _Exported:
    """What the legacy writer derives from a current JSON model, before laying out the bytes."""
    objective: str             # the name the image's xgboost knows
    objective_json: dict       # its 1.x JSON form
    base_score: float          # as the target version stores it (margin before 1.0, user space after)
    num_feature: int
    num_class: int
    trees: list[bytes]
    tree_info: list[int]
    attributes: dict[str, str]


def _export(model_json: bytes | str, version: tuple[int, int] | None) -> _Exported:
    learner = json.loads(model_json)["learner"]
    gb = learner["gradient_booster"]
    booster = gb.get("name", "gbtree")
    if booster != "gbtree":
        raise LegacyExportError(f"only gbtree models have a legacy binary form here, not {booster!r}")
    param = learner["learner_model_param"]
    if int(param.get("num_target", "1")) > 1:
        raise LegacyExportError("a multi-target model has no legacy binary form")
    num_feature, num_class = int(param["num_feature"]), int(param["num_class"])
    current = learner["objective"]
    objective = str(current["name"])
    name = legacy_objective(objective, version)
    version_1x = version is not None and version >= (1, 0)
    model = gb["model"]
    trees, tree_info = model["trees"], [int(g) for g in model["tree_info"]]
    scores = _base_scores(param)
    offsets: dict[int, float] = {}
    if objective.startswith("multi:"):  # a margin per class; legacy has one: the rest go into each class's trees
        margin = scores[0]
        offsets = {k: scores[k] - margin for k in range(len(scores)) if scores[k] != margin}
        missing = [k for k in offsets if k not in tree_info]
        if missing:
            raise LegacyExportError(f"classes {missing} have their own base_score but no tree to carry it")
    elif len(set(scores)) > 1:
        raise LegacyExportError("several base_score values but not a multi-class model")
    else:
        margin = prob_to_margin(objective, scores[0])
    base_score = margin_to_prob(name, margin, version_1x=True) if version_1x else margin
    seen: set[int] = set()
    tree_bytes = []
    for i, tree in enumerate(trees):
        group = tree_info[i]
        tree_bytes.append(_tree_bytes(tree, num_feature, offsets.get(group, 0.0) if group not in seen else 0.0))
        seen.add(group)
    objective_json = _objective_1x(name, current, num_class)
    attributes = {str(k): str(v) for k, v in (learner.get("attributes") or {}).items()}
    if name == "count:poisson":
        attributes["count_poisson_max_delta_step"] = objective_json["poisson_regression_param"]["max_delta_step"]
    if version_1x:  # what 1.0 - 1.2 save: the objective's configuration, read back by their loader
        attributes["objective"] = json.dumps(objective_json, separators=(",", ":"))
        attributes.pop("count_poisson_max_delta_step", None)
    return _Exported(name, objective_json, base_score, num_feature, num_class, tree_bytes, tree_info, attributes)


def from_json(model_json: bytes | str, image_version: tuple[int, int] | None = None) -> bytes:
    """XGBoost's binary model, from a current JSON model (``Booster.save_raw("json")``), as the xgboost of an
    image ``image_version`` saves it: before 1.0 as 0.90 did (major_version 0, base_score in margin space,
    poisson's max_delta_step after the attributes), for 1.0 - 1.2 as 1.0 does (major_version 1, base_score in
    user space, the objective's configuration as an attribute). Raises LegacyExportError for what the format
    cannot hold (gblinear, dart, categorical splits, vector leaves, objectives the image lacks)."""
    return _binary(_export(model_json, image_version), image_version is not None and image_version >= (1, 0))


def _binary(m: _Exported, version_1x: bool) -> bytes:
    major, minor = (1, 0) if version_1x else (0, 0)
    out = [struct.pack("<fIiiiII", m.base_score, m.num_feature, m.num_class, int(bool(m.attributes)), 0,
                       major, minor) + bytes(_LEARNER_PARAM - 28),
           _string(m.objective), _string("gbtree"),
           struct.pack("<iiiiqii", len(m.trees), 1, m.num_feature, 0, 0, max(m.num_class, 1), 0)
           + bytes(_GBTREE_PARAM - 32)]
    out.extend(m.trees)
    out.append(np.asarray(m.tree_info, dtype="<i4").tobytes())
    if m.attributes:
        out.append(struct.pack("<Q", len(m.attributes)))
        out.extend(_string(k) + _string(v) for k, v in sorted(m.attributes.items()))
    if m.objective == "count:poisson" and not version_1x:
        out.append(_string(m.attributes["count_poisson_max_delta_step"]))  # 0.90 reads it after the attributes
    return b"".join(out)


def _config_1x(m: _Exported, version: tuple[int, int]) -> dict:
    """The configuration 1.0 - 1.2 serialise after the binary model (``Booster.save_config``'s form), with
    their defaults: the parts their loader reads."""
    return {"learner": {
        "generic_param": {"enable_experimental_json_serialization": "0", "gpu_id": "-1", "gpu_page_size": "0",
                          "n_gpus": "0", "n_jobs": "0", "nthread": "0", "random_state": "0", "seed": "0",
                          "seed_per_iteration": "0", "validate_features": "0", "validate_parameters": "0"},
        "gradient_booster": {"name": "gbtree", "specified_updater": False,
                             "updater": {"grow_colmaker": {"colmaker_train_param": {}, "train_param": {}},
                                         "prune": {"train_param": {}}},  # 1.2 loads each updater's config
                             "gbtree_train_param": {"num_parallel_tree": "1", "predictor": "auto",
                                                    "process_type": "default", "tree_method": "auto",
                                                    "updater": "grow_colmaker,prune",
                                                    "updater_seq": "grow_colmaker,prune"}},
        "learner_model_param": {"base_score": repr(m.base_score), "num_class": str(m.num_class),
                                "num_feature": str(m.num_feature)},
        "learner_train_param": {"booster": "gbtree", "disable_default_eval_metric": "0", "dsplit": "auto",
                                "objective": m.objective},
        "metrics": [],
        "objective": m.objective_json,
    }, "version": [version[0], version[1], 0]}


def booster_state(model_json: bytes | str, image_version: tuple[int, int] | None) -> bytes:
    """The bytes a pickled Booster of the image's xgboost holds as its ``handle``: the 0.90 binary model alone
    before 1.0; for 1.0 - 1.2, which only unpickle their own serialisation, ``CONFIG-offset:``, the binary
    model's size (i64), the binary model (1.0 layout) and the JSON configuration."""
    exported = _export(model_json, image_version)
    if image_version is None or image_version < (1, 0):
        return _binary(exported, False)
    binary = _binary(exported, True)
    config = json.dumps(_config_1x(exported, image_version), separators=(",", ":"))
    return SERIALISATION_HEADER + struct.pack("<q", len(binary)) + binary + config.encode()


def pickled_booster(raw: bytes) -> bytes:
    """A pickle of an ``xgboost.core.Booster`` as xgboost 0.90 wrote one (its state ``{"handle": bytearray(<legacy
    binary model>), "feature_names": None, "feature_types": None}``), built from opcodes rather than from a live
    Booster of that version: 0.90 - 1.2 unpickle it with their own ``Booster.__setstate__``. Protocol 3, which
    every Python 3 of those images reads: GLOBAL xgboost.core.Booster, NEWOBJ with no arguments, BUILD with the
    state."""
    import pickle

    state = {"handle": bytearray(raw), "feature_names": None, "feature_types": None}
    body = pickle.dumps(state, protocol=3)  # PROTO 3 ... STOP: the state's opcodes sit between
    return (b"\x80\x03" + pickle.GLOBAL + b"xgboost.core\nBooster\n" + pickle.EMPTY_TUPLE + pickle.NEWOBJ
            + body[2:-1] + pickle.BUILD + pickle.STOP)
