"""The compiled forest (serving.forest) predicts exactly what `booster.predict` does: boosters trained here on
generated data with NaNs, zeros, values LightGBM counts as zero and extreme values (property-based, derandomized),
and the models trained from the sample; what it cannot reproduce falls back to `booster.predict`."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ivcrush.feature_repo.materialize import materialize
from ivcrush.serving.forest import ZERO_THRESHOLD, Forest, compile_boosters, parse_model, unsupported
from ivcrush.serving.model import ServingBoosters, serving_model
from ivcrush.serving.online import NotServableError
from ivcrush.settings import Settings
from ivcrush.training.data import training_set
from ivcrush.training.predict import ensemble, predict_frame
from ivcrush.training.registry import LoadedModel, StoredBoosters, model_digest
from ivcrush.training.train import TrainedModels, feature_array, feature_matrix, train_models

FEATURES = [f"f{j}" for j in range(4)]
# values LightGBM treats specially: zeros (and |x| <= 1e-35f, which it drops), NaN, infinities, huge and tiny
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-36, -1e-36, 1e-35, 1.0000000180025095e-35, 2e-35, 1e300, -1e300]
OBJECTIVES = [
    {"objective": "quantile", "alpha": 0.1},
    {"objective": "quantile", "alpha": 0.9},
    {"objective": "regression_l1"},
    {"objective": "regression"},
    {"objective": "huber"},
    {"objective": "binary", "sigmoid": 1.0},
    {"objective": "binary", "sigmoid": 0.37},
]
EXACT = settings(derandomize=True, database=None, deadline=None, max_examples=40)


def _training_data(seed: int, special_share: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, len(FEATURES))) * rng.choice([1.0, 1e-3, 1e6], size=(300, len(FEATURES)))
    x[rng.random(x.shape) < special_share] = np.nan
    x[rng.random(x.shape) < special_share] = 0.0
    tiny = rng.random(x.shape) < special_share / 2
    x[tiny] = rng.choice([1e-36, -1e-36, 3e-35, 1e300, -1e300], size=int(tiny.sum()))
    y = np.nan_to_num(x[:, 0], posinf=5, neginf=-5).clip(-5, 5) + (np.isnan(x[:, 1]) | (x[:, 1] == 0)) * 2
    return x, y + rng.normal(size=len(y))


def _train(x: np.ndarray, y: np.ndarray, params: dict[str, object], rounds: int) -> lgb.Booster:
    label = (y > np.median(y)).astype(float) if params["objective"] == "binary" else y
    dataset = lgb.Dataset(pd.DataFrame(x, columns=FEATURES), label=label, params={"verbose": -1})
    return lgb.train({"verbose": -1, "num_threads": 1, **params}, dataset, num_boost_round=rounds)


def _assert_same(compiled: np.ndarray, expected: np.ndarray) -> None:
    assert compiled.shape == expected.shape
    relative = np.abs(compiled - expected) / np.maximum(np.abs(expected), 1.0)
    assert np.max(relative, initial=0.0) <= 1e-12, f"max relative difference {np.max(relative)}"


@EXACT
@given(
    seed=st.integers(0, 2**16),
    special_share=st.sampled_from([0.0, 0.1, 0.3]),
    objective=st.sampled_from(OBJECTIVES),
    missing=st.sampled_from([{}, {"zero_as_missing": True}, {"use_missing": False}]),
    num_leaves=st.integers(2, 15),
    min_data_in_leaf=st.sampled_from([1, 5, 20, 1000]),  # 1000 > rows: single-leaf trees
    rounds=st.integers(1, 25),
    rows=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 30), st.just(len(FEATURES))),
        elements=st.one_of(st.sampled_from(SPECIAL), st.floats(-3, 3), st.floats(allow_nan=True)),
    ),
)
def test_the_compiled_forest_predicts_what_lightgbm_does(
    seed: int,
    special_share: float,
    objective: dict[str, object],
    missing: dict[str, object],
    num_leaves: int,
    min_data_in_leaf: int,
    rounds: int,
    rows: np.ndarray,
) -> None:
    x, y = _training_data(seed, special_share)
    params = {**objective, **missing, "num_leaves": num_leaves, "min_data_in_leaf": min_data_in_leaf}
    booster = _train(x, y, params, rounds)
    forest, fallback = compile_boosters({"b": booster}, FEATURES)
    assert fallback == {}
    for data in (rows, x, np.vstack([x[:50], rows])):
        _assert_same(forest.predict(data, ["b"])["b"], booster.predict(data))


def test_the_forest_predicts_several_boosters_in_any_feature_order_and_best_iteration() -> None:
    x, y = _training_data(7, 0.2)
    direction = _train(x, y, {"objective": "binary", "num_leaves": 7}, 30)
    moved = _train(x, y, {"objective": "quantile", "alpha": 0.5, "num_leaves": 7}, 20)
    moved.best_iteration = 12  # as lgb.train sets it with early stopping: predict and the text model use 12 trees
    shuffled = list(reversed(FEATURES))  # the input's columns in another order than the boosters'
    forest, _ = compile_boosters({"direction": direction, "moved": moved}, shuffled)
    both = forest.predict(x[:, ::-1], ["moved", "direction"])
    assert list(both) == ["moved", "direction"]
    np.testing.assert_array_equal(both["direction"], direction.predict(x))
    np.testing.assert_array_equal(both["moved"], moved.predict(x))
    assert not np.array_equal(moved.predict(x), moved.predict(x, num_iteration=20))
    assert forest.predict(x[:0, ::-1], ["moved"])["moved"].shape == (0,)
    with pytest.raises(ValueError, match=r"expected an \(n, 4\) feature array"):
        forest.predict(x[:, :3], ["moved"])


def test_what_the_forest_cannot_reproduce_falls_back_to_lightgbm() -> None:
    x, y = _training_data(11, 0.1)
    x[:, 2] = np.floor(np.abs(np.nan_to_num(x[:, 2], posinf=0, neginf=0)) % 5)
    y = y + x[:, 2]
    frame = pd.DataFrame(x, columns=FEATURES)
    categorical = lgb.train(
        {"objective": "regression", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(frame, label=y, categorical_feature=["f2"], params={"verbose": -1}),
        num_boost_round=10,
    )
    linear = lgb.train(
        {"objective": "regression", "linear_tree": True, "verbose": -1},
        lgb.Dataset(frame.fillna(0).clip(-10, 10), label=y, params={"verbose": -1}),
        num_boost_round=5,
    )
    multiclass = _train(x, np.digitize(y, [-1, 1]).astype(float), {"objective": "multiclass", "num_class": 3}, 5)
    plain = _train(x, y, {"objective": "regression"}, 10)
    boosters = {"categorical": categorical, "linear": linear, "multiclass": multiclass, "plain": plain}
    served = ServingBoosters({k: v for k, v in boosters.items() if k != "multiclass"}, FEATURES)
    assert served.fallback == {"categorical": "a categorical split", "linear": "a linear tree"}
    assert list(served.forest.roots) == ["plain"]
    assert unsupported(*parse_model(multiclass.model_to_string()), FEATURES) == "more than one tree per iteration"
    predictions = served.predict_many(x, ["categorical", "plain", "linear"])
    assert list(predictions) == ["categorical", "plain", "linear"]
    for name, values in predictions.items():
        np.testing.assert_array_equal(values, boosters[name].predict(x), err_msg=name)
    with pytest.raises(ValueError, match="cannot be compiled: a categorical split"):
        Forest.compile({"categorical": parse_model(categorical.model_to_string())}, FEATURES)
    assert set(served) == {"categorical", "linear", "plain"} and served["plain"] is plain


def test_an_infinite_threshold_keeps_missing_values_on_their_default_side() -> None:
    """LightGBM writes a split of 'every value' against NaN with threshold inf: NaN goes to its default side."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, len(FEATURES)))
    x[:100, 0] = np.nan
    y = np.where(np.isnan(x[:, 0]), 10.0, 0.0) + rng.normal(size=400) * 0.1
    booster = _train(x, y, {"objective": "regression_l1", "num_leaves": 3}, 5)
    assert "inf" in booster.model_to_string().split("Tree=0")[1].split("decision_type")[0]
    forest, _ = compile_boosters({"b": booster}, FEATURES)
    probe = np.array([[np.nan, 0, 0, 0], [np.inf, 0, 0, 0], [1e308, 0, 0, 0], [-np.inf, 0, 0, 0]])
    np.testing.assert_array_equal(forest.predict(probe, ["b"])["b"], booster.predict(probe))


@pytest.fixture(scope="module")
def sample_models(
    built_sample: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainedModels, pd.DataFrame]:
    target = tmp_path_factory.mktemp("forest") / "work"
    shutil.copytree(built_sample.workdir, target, symlinks=True, ignore=shutil.ignore_patterns("feast"))
    settings = replace(built_sample, workdir=target)
    materialize(settings, date(2025, 7, 1))
    dataset = training_set(settings)
    return train_models(dataset, num_boost_round=40), dataset


def test_the_sample_models_serve_the_same_forecasts_compiled(sample_models: tuple[TrainedModels, pd.DataFrame]) -> None:
    models, dataset = sample_models
    compiled = replace(models, boosters=ServingBoosters(models.boosters, models.features))
    assert compiled.boosters.fallback == {}  # type: ignore[attr-defined]
    x = feature_array(dataset, models.features)
    np.testing.assert_array_equal(x, feature_matrix(dataset, models.features).to_numpy())
    outputs = compiled.boosters.predict_many(x, list(models.boosters))  # type: ignore[attr-defined]
    for name, booster in models.boosters.items():
        np.testing.assert_array_equal(outputs[name], booster.predict(feature_matrix(dataset, models.features)))
    frame = dataset.tail(40).reset_index(drop=True)
    skills = {"move_size": {"skill": True}, "direction": {"skill": True}, "iv_crush": {"skill": True}}
    for verdicts in ({}, skills, {"move_size": {"skill": False}}):
        assert ensemble(compiled, frame, verdicts) == ensemble(models, frame, verdicts)
    pd.testing.assert_frame_equal(predict_frame(compiled, frame), predict_frame(models, frame))
    assert ensemble(compiled, frame.head(0), skills) == []


def test_feature_array_takes_the_numbers_feature_matrix_makes() -> None:
    frame = pd.DataFrame(
        {"a": [1.5, np.nan], "b": [1, 2], "text": ["3.5", None], "flag": [True, False], "other": ["x", "y"]}
    )
    for features in (["a", "b"], ["b", "a"], ["a", "text", "flag"], ["a"]):
        expected = feature_matrix(frame, features).to_numpy(dtype="float64")
        np.testing.assert_array_equal(feature_array(frame, features), expected)
    assert feature_array(frame, ["a", "b"]).dtype == np.float64


def _registered_file(folder: Path) -> tuple[str, Path]:
    """A small booster written as the registry writes it, and the model id its text's digest ends."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    booster = lgb.train({"verbose": -1, "num_leaves": 4}, lgb.Dataset(x, label=x[:, 0] + rng.normal(size=200)), 10)
    path = folder / "q50.txt"
    booster.save_model(str(path))
    return f"20260101T000000000000-{model_digest({'q50': booster.model_to_string()})}", path


@pytest.mark.parametrize("damage", ["truncated", "changed", "missing", "empty"])
def test_a_damaged_booster_file_is_refused_with_its_name_never_served(tmp_path: Path, damage: str) -> None:
    """A registered booster file cut short, changed, missing or empty: the model is not servable (a
    NotServableError naming the file and what to run), never a traceback or a forest of the trees left."""
    model_id, path = _registered_file(tmp_path)
    text = path.read_text()
    model = LoadedModel(model_id, StoredBoosters(model_id, {"q50": path}), ["Column_0", "Column_1", "Column_2"], None)  # type: ignore[arg-type]
    assert serving_model(model).boosters["q50"] is not None  # whole: served
    if damage == "truncated":
        path.write_text(text[: text.index("Tree=5")])
    elif damage == "changed":
        path.write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    elif damage == "missing":
        path.unlink()
    else:
        path.write_text("")
    with pytest.raises(NotServableError, match=rf"model {model_id}: .*run `ivcrush train`") as raised:
        serving_model(model)
    assert str(path) in str(raised.value) or str(tmp_path) in str(raised.value)


def test_a_text_model_cut_short_does_not_parse() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 2))
    text = lgb.train({"verbose": -1}, lgb.Dataset(x, label=x[:, 0]), 6).model_to_string()
    parse_model(text)
    for cut in (text[: text.index("Tree=3")], text[: text.index("end of trees")], ""):
        with pytest.raises(ValueError, match="LightGBM text model"):
            parse_model(cut)


def _prepared_in_full(x: np.ndarray) -> np.ndarray:
    """The earlier input of the forest: every feature in all five missing-value variants."""
    x = np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x)
    nan = np.isnan(x)
    zero = nan | (x == 0.0)
    variants = [np.where(nan, 0.0, x), np.where(nan, -np.inf, x), x, np.where(zero, -np.inf, x)]
    return np.concatenate([*variants, np.where(zero, np.nan, x)], axis=1)


def _walked_in_full(forest: Forest, x: np.ndarray, name: str) -> np.ndarray:
    """The earlier walk: every tree of the booster over the full prepared input, the forest's own columns."""
    prepared, roots = _prepared_in_full(x), forest.roots[name]
    node = np.tile(roots, (len(x), 1))
    rows = np.arange(len(x))[:, None]
    for _ in range(forest.depth[name]):
        node = forest.child[node] + (prepared[rows, forest.column[node]] <= forest.threshold[node])
    raw = forest.value[node].cumsum(axis=1)[:, -1] + 0.0 if len(roots) else np.zeros(len(x))
    sigmoid = forest.sigmoid[name]
    return raw if sigmoid is None else np.array([1.0 / (1.0 + math.exp(-sigmoid * v)) for v in raw.tolist()])


@settings(derandomize=True, database=None, deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**16),
    missing=st.sampled_from([{}, {"zero_as_missing": True}, {"use_missing": False}]),
    num_leaves=st.integers(2, 15),
    min_data_in_leaf=st.sampled_from([1, 5, 1000]),  # 1000 > rows: single-leaf trees, no column read
)
def test_the_forest_reads_only_the_columns_its_splits_use_and_predicts_the_same_floats(
    seed: int, missing: dict[str, object], num_leaves: int, min_data_in_leaf: int
) -> None:
    """`prepare_used` (the features and variants the predicted boosters' splits read) gives, float for float,
    the predictions of the walk over every feature in every variant: several boosters, each alone and together."""
    x, y = _training_data(seed, 0.3)
    params = {**missing, "num_leaves": num_leaves, "min_data_in_leaf": min_data_in_leaf}
    boosters = {
        "low": _train(x, y, {"objective": "quantile", "alpha": 0.1, **params}, 12),
        "up": _train(x, y, {"objective": "binary", **params}, 7),
    }
    forest, _ = compile_boosters(boosters, FEATURES)
    data = np.vstack([x[:40], np.array(SPECIAL * len(FEATURES)).reshape(-1, len(FEATURES))])
    for names in (["low"], ["up"], ["up", "low"]):
        predicted = forest.predict(data, names)
        for name in names:
            assert predicted[name].tobytes() == _walked_in_full(forest, data, name).tobytes(), name
