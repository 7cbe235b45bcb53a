"""LightGBM boosters compiled once into flat node arrays and predicted together, vectorised over rows and trees.

`booster.predict` costs about 0.3 ms per call whatever the rows (argument checks, a C call, thread setup); a
served event needs several boosters. `compile_boosters` reads each booster's text model (`model_to_string()`:
the trees of its best iteration, those `booster.predict` uses by default, with every number exact) into one set
of arrays for all boosters; `Forest.predict` walks every tree of the asked boosters for every row at once, one
tree level per step.

It reproduces LightGBM's prediction exactly (`Tree::NumericalDecision`, `GBDT::PredictRaw`):
- an input value with |x| <= 1e-35f (`kZeroThreshold`) is zero (LightGBM drops it from the row);
- a split sends x left when x <= threshold; a missing value goes by the split's missing type: "NaN": NaN takes
  the default side; "Zero": NaN and zero take the default side; "None": NaN counts as zero;
- the raw score is the sum of the trees' leaf values in tree order (a sequential sum, as LightGBM adds them);
- the objective's output: the raw score for regression, L1, quantile, Huber, Fair and MAPE; for binary
  1 / (1 + exp(-sigmoid x)) with the model's sigmoid (libm's exp, as LightGBM's).
Anything else (categorical splits, linear trees, multiclass, random forests, other objectives) is not compiled:
`unsupported` says why, and the caller predicts that booster with `booster.predict`.

Missing values cost no per-node test: the input is prepared in five variants (only the features and variants
some split of the predicted boosters reads: `prepare_used`) and each split
reads the variant of its missing type and default side, where a missing value is -inf (left: -inf <= any
threshold) or NaN (right: NaN <= t is false). A split's right child is followed by its left one, so a step is
node = right child + (x <= threshold); a leaf is its own right child with a NaN threshold, so walking the
deepest tree's depth leaves every row of every tree on its leaf.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal, 1e-35f)
IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l1", "quantile", "huber", "fair", "mape"})
CATEGORICAL, DEFAULT_LEFT = 1, 2  # decision_type bits; bits 2-3: the missing type (0 None, 1 Zero, 2 NaN)
# the prepared variant of each (missing type, default left): NaN as zero; NaN left / right; NaN and zero left / right
VARIANT = {(0, False): 0, (0, True): 0, (2, True): 1, (2, False): 2, (1, True): 3, (1, False): 4}
VARIANTS = 5
MISSING_AT = (0.0, -np.inf, np.nan, -np.inf, np.nan)  # where each variant puts a missing value (2: NaN kept)
Section = dict[str, str]  # a text model's header or one tree: key -> value


@dataclass(frozen=True)
class Gather:
    """A plan's prepared columns (`prepare_used`) as one gather of the input: each column's feature, the value a
    missing one takes in its variant (`MISSING_AT`; NaN kept NaN) and whether a zero is missing too (variants 3
    and 4; None where no column's is)."""

    features: np.ndarray
    fill: np.ndarray
    zero_missing: np.ndarray | None

    @classmethod
    def of(cls, used: Sequence[tuple[int, np.ndarray]]) -> Gather:
        """`used`: each variant's features, in the order of the prepared columns."""
        features = np.concatenate([features for _, features in used])
        fill = np.concatenate([np.full(len(features), MISSING_AT[variant]) for variant, features in used])
        zero = np.concatenate([np.full(len(features), variant >= 3) for variant, features in used])
        return cls(features, fill, zero if zero.any() else None)


def prepare_used(x: np.ndarray, gather: Gather) -> np.ndarray:
    """The (n, columns) input a plan's splits read: the float64 `x`'s features in their missing-value variants
    (`gather`: each column's feature and variant; column variant * features + feature of the forest's nodes),
    none that no split reads. Values with |x| <= kZeroThreshold are zero; then a variant (`VARIANT`) has NaN as
    zero (0), NaN at -inf (1) or kept (2), NaN and zero at -inf (3) or at NaN (4). (A split reads its column by
    `x <= threshold` alone: a NaN kept or made is the same there.)"""
    values = np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x)[:, gather.features]
    missing = np.isnan(values)
    if gather.zero_missing is not None:
        missing |= (values == 0.0) & gather.zero_missing
    return np.where(missing, gather.fill, values)


def parse_model(text: str) -> tuple[Section, list[Section]]:
    """The header and the trees of a LightGBM text model (`booster.model_to_string()`); ValueError where the
    text is not a whole model (cut short: its trees are not the ones its header lists)."""
    if "end of trees" not in text:
        raise ValueError("not a whole LightGBM text model (no 'end of trees')")
    head, _, body = text.partition("\nTree=")
    lines = head.splitlines()
    header = dict(line.split("=", 1) for line in lines if "=" in line)
    header["average_output"] = str("average_output" in lines)
    blocks = ("Tree=" + body).split("end of trees")[0].split("\n\n") if body else []
    trees = [dict(line.split("=", 1) for line in block.strip().splitlines()) for block in blocks if block.strip()]
    if len(trees) != len(header.get("tree_sizes", "").split()):
        raise ValueError(f"a LightGBM text model with {len(trees)} trees where its header lists a different number")
    return header, trees


def _numbers(tree: Section, key: str) -> list[float]:
    return [float(value) for value in tree.get(key, "").split()]


def _sigmoid(objective: str) -> tuple[bool, float | None]:
    """(supported, the sigmoid parameter or None for the raw score) of a text model's objective."""
    name, *options = objective.split()
    if name in IDENTITY_OBJECTIVES and "sqrt" not in options:
        return True, None
    sigmoid = [float(option.split(":", 1)[1]) for option in options if option.startswith("sigmoid:")]
    return name == "binary" and len(sigmoid) == 1, sigmoid[0] if sigmoid else None


def unsupported(header: Section, trees: list[Section], features: Sequence[str]) -> str | None:
    """Why a parsed text model cannot be compiled over the input columns `features` (None when it can)."""
    if header.get("num_class") != "1" or header.get("num_tree_per_iteration") != "1":
        return "more than one tree per iteration"
    if header["average_output"] == "True":
        return "a random forest (averaged output)"
    if not _sigmoid(header.get("objective", ""))[0]:
        return f"objective {header.get('objective')!r}"
    absent = [name for name in header.get("feature_names", "").split() if name not in features]
    if absent:
        return f"feature {absent[0]} is not among the model's features"
    for tree in trees:
        if tree.get("is_linear", "0") != "0":
            return "a linear tree"
        if tree.get("num_cat", "0") != "0" or any(int(d) & CATEGORICAL for d in _numbers(tree, "decision_type")):
            return "a categorical split"
        if any(int(d) >> 2 & 3 == 3 for d in _numbers(tree, "decision_type")):
            return "an unknown missing type"
        if any(math.isnan(t) for t in _numbers(tree, "threshold")):
            return "a NaN threshold"
    return None


@dataclass(frozen=True)
class Forest:
    """The trees of several boosters as flat node arrays (see the module docstring)."""

    column: np.ndarray  # per node: the prepared input's column (variant * features + feature); 0 for a leaf
    threshold: np.ndarray  # per node: the split threshold; NaN for a leaf (never left)
    child: np.ndarray  # per node: the right child (the left child is the next node); a leaf: itself
    value: np.ndarray  # per node: the leaf value (0 for a split)
    roots: Mapping[str, np.ndarray]  # each booster's tree roots, in tree order
    depth: Mapping[str, int]  # each booster's deepest tree (splits from root to leaf)
    sigmoid: Mapping[str, float | None]  # each booster's sigmoid parameter (None: the raw score)
    features: int  # the input's number of columns
    plans: dict[tuple[str, ...], _Plan] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def compile(cls, models: Mapping[str, tuple[Section, list[Section]]], features: Sequence[str]) -> Forest:
        """The forest of parsed text models (by booster name; each supported, see `unsupported`) over the
        input columns `features`."""
        nodes: list[tuple[int, float, int, float]] = []
        roots, depth, sigmoid = {}, {}, {}
        position = {name: j for j, name in enumerate(features)}
        for name, (header, trees) in models.items():
            reason = unsupported(header, trees, features)
            if reason:
                raise ValueError(f"booster {name} cannot be compiled: {reason}")
            columns = [position[feature] for feature in header["feature_names"].split()]
            tree_roots, depth[name] = [], 0
            for tree in trees:
                tree_roots.append(len(nodes))
                depth[name] = max(depth[name], _add_tree(tree, columns, len(features), nodes))
            roots[name] = np.asarray(tree_roots, dtype=np.intp)
            sigmoid[name] = _sigmoid(header["objective"])[1]
        column, threshold, child, value = zip(*nodes, strict=True) if nodes else ((), (), (), ())
        return cls(
            column=np.asarray(column, dtype=np.intp),
            threshold=np.asarray(threshold, dtype=np.float64),
            child=np.asarray(child, dtype=np.intp),
            value=np.asarray(value, dtype=np.float64),
            roots=roots,
            depth=depth,
            sigmoid=sigmoid,
            features=len(features),
        )

    def predict(self, x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each named booster's predictions for the rows of `x` ((n, features) float64), as `booster.predict`."""
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"expected an (n, {self.features}) feature array, got {x.shape}")
        plan = self._plan(tuple(names))
        # only the prepared columns the plan's splits read, in C order (so that its flattening below is a view)
        rows, prepared = x.shape[0], prepare_used(x, plan.gather)
        # the first step from the roots (the same nodes in every row), then one gather per array and level
        node = plan.first_child + (prepared[:, plan.first_column] <= plan.first_threshold)
        flat, offset = prepared.ravel(), (np.arange(rows, dtype=np.intp) * prepared.shape[1])[:, None]
        column = plan.column
        for _ in range(plan.depth - 1):
            node = self.child[node] + (flat[offset + column[node]] <= self.threshold[node])
        leaves = self.value[node]
        out = {}
        for start, group, trees in plan.groups:  # boosters with as many trees: one sequential sum
            # LightGBM adds the trees in order to 0.0 (+ 0.0: the same sum, and never -0.0)
            sums = leaves[:, start : start + len(group) * trees].reshape(rows, len(group), trees)
            raw = sums.cumsum(axis=2)[:, :, -1] + 0.0 if trees else np.zeros((rows, len(group)))
            for j, name in enumerate(group):
                sigmoid = self.sigmoid[name]
                if sigmoid is None:
                    out[name] = raw[:, j].copy()
                else:  # LightGBM's 1 / (1 + exp(-sigmoid x)), with libm's exp
                    out[name] = np.array([1.0 / (1.0 + math.exp(-sigmoid * v)) for v in raw[:, j].tolist()])
        return {name: out[name] for name in names}

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        """What predicting these boosters walks, made once per set of names."""
        plan = self.plans.get(names)
        if plan is None:
            roots = np.concatenate([self.roots[name] for name in names]) if names else np.zeros(0, dtype=np.intp)
            groups: list[tuple[int, list[str], int]] = []
            start = 0
            for name in names:
                trees = len(self.roots[name])
                if groups and groups[-1][2] == trees:
                    groups[-1][1].append(name)
                else:
                    groups.append((start, [name], trees))
                start += trees
            used, column = self._used_columns(roots)
            plan = _Plan(
                gather=Gather.of(used),
                column=column,
                first_column=column[roots],
                first_threshold=self.threshold[roots],
                first_child=self.child[roots],
                depth=max([self.depth[name] for name in names], default=0),
                groups=groups,
            )
            self.plans[names] = plan  # the same plan whichever thread stores it
        return plan

    def _used_columns(self, roots: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
        """The prepared columns the splits of these trees read (each variant's features, at least one column) and
        every node's column among them (0 for the nodes of other trees and the leaves, which read any)."""
        tree_nodes, level = [], roots
        while level.size:  # the trees' nodes, level by level (a leaf is its own child: not followed)
            tree_nodes.append(level)
            split = level[~np.isnan(self.threshold[level])]
            level = np.concatenate([self.child[split], self.child[split] + 1])
        nodes = np.concatenate(tree_nodes) if tree_nodes else np.zeros(0, dtype=np.intp)
        read = np.unique(self.column[nodes[~np.isnan(self.threshold[nodes])]])
        read = read if read.size else np.zeros(1, dtype=np.intp)
        variants, features = np.divmod(read, self.features)
        used = [(int(v), features[variants == v]) for v in np.unique(variants).tolist()]
        position = np.zeros(VARIANTS * self.features, dtype=np.intp)
        position[read] = np.arange(read.size)  # `read` is sorted by variant, then feature: as `used` lays them
        return used, position[self.column]


@dataclass(frozen=True)
class _Plan:
    gather: Gather  # the prepared columns its splits read: each variant's features
    column: np.ndarray  # per node of the forest: its column among those (`prepare_used`'s)
    first_column: np.ndarray  # the roots' columns, thresholds and right children
    first_threshold: np.ndarray
    first_child: np.ndarray
    depth: int  # the deepest tree's depth: the steps that bring every row of every tree to its leaf
    groups: list[tuple[int, list[str], int]]  # (first tree, boosters, trees each) of consecutive equal-size boosters


def _add_tree(tree: Section, columns: Sequence[int], features: int, nodes: list[tuple[int, float, int, float]]) -> int:
    """Append one tree's nodes and return its depth. LightGBM numbers a tree's splits 0.. (the root first, a
    split before its children) and its leaves by ~child; here the root comes first and split i's right and left
    children are the nodes 1 + 2i and 2 + 2i of the tree."""
    leaves = _numbers(tree, "leaf_value")
    base = len(nodes)
    if len(leaves) == 1:
        nodes.append((0, math.nan, base, leaves[0]))
        return 0
    split_feature, decision = _numbers(tree, "split_feature"), _numbers(tree, "decision_type")
    threshold, left, right = _numbers(tree, "threshold"), _numbers(tree, "left_child"), _numbers(tree, "right_child")
    slot = [0] * len(split_feature)  # each split's node within the tree
    level = [0] * len(split_feature)
    leaf_slot = [0] * len(leaves)
    for i in range(len(split_feature)):
        for offset, child in ((1, int(right[i])), (2, int(left[i]))):
            if child >= 0:
                slot[child], level[child] = 2 * i + offset, level[i] + 1
            else:
                leaf_slot[~child] = 2 * i + offset
    table: list[tuple[int, float, int, float]] = [(0, math.nan, 0, 0.0)] * (2 * len(leaves) - 1)
    for i, feature in enumerate(split_feature):
        kind = int(decision[i])
        variant = VARIANT[(kind >> 2) & 3, bool(kind & DEFAULT_LEFT)]
        table[slot[i]] = (variant * features + columns[int(feature)], threshold[i], base + 2 * i + 1, 0.0)
    for j, value in enumerate(leaves):
        table[leaf_slot[j]] = (0, math.nan, base + leaf_slot[j], value)
    nodes.extend(table)
    return max(level) + 1


class TextModelSource(Protocol):
    """What the forest compiles: a `lgb.Booster`, or a registered booster's file (the same text)."""

    def model_to_string(self) -> str: ...


def compile_boosters(boosters: Mapping[str, TextModelSource], features: Sequence[str]) -> tuple[Forest, dict[str, str]]:
    """The forest of the boosters that can be compiled, and why each other one cannot (it keeps `predict`)."""
    models = {name: parse_model(booster.model_to_string()) for name, booster in boosters.items()}
    reasons = {name: unsupported(*model, features) for name, model in models.items()}
    compiled = {name: model for name, model in models.items() if not reasons[name]}
    return Forest.compile(compiled, features), {name: reason for name, reason in reasons.items() if reason}
