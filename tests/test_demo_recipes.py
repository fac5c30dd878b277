"""The demo recipes: injected biases present with their documented size, determinism, the model export, the cache."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.tabular import export_tabular
from models import build, lending, reviews


def _rates(df: pd.DataFrame, col: str, label: str) -> pd.Series:
    return df.groupby(col)[label].mean()


def _dpd(rates: pd.Series) -> float:
    return float(rates.max() - rates.min())


@pytest.fixture(scope="module")
def lending_df() -> pd.DataFrame:
    return lending.generate()


@pytest.fixture(scope="module")
def reviews_df() -> pd.DataFrame:
    return reviews.generate()


@pytest.fixture(scope="module")
def small_lending_model():
    df = lending.generate(8000, seed=3)
    return df, lending.train(df, seed=3, epochs=25)


# ---- lending data ----------------------------------------------------------------------------------------------

def test_lending_columns_and_types(lending_df):
    assert len(lending_df) == 20000
    assert list(lending_df.columns) == [*lending.FEATURES, *lending.SENSITIVE, lending.SPLIT, lending.TARGET]
    assert not set(lending.FEATURES) & {*lending.SENSITIVE, lending.SPLIT, lending.TARGET}
    feats = lending_df[list(lending.FEATURES)]
    assert all(pd.api.types.is_float_dtype(t) for t in feats.dtypes)
    assert not feats.isna().any().any()
    assert set(lending_df["sex"]) == {"female", "male"}
    assert set(lending_df["race"]) == set(lending.RACES)
    assert set(lending_df["age_group"]) == set(lending.AGE_GROUPS)
    assert set(lending_df[lending.TARGET]) == {0, 1}
    assert lending_df[lending.SPLIT].eq("test").mean() == pytest.approx(lending.TEST_FRACTION, abs=0.02)


def test_lending_is_deterministic(lending_df):
    pd.testing.assert_frame_equal(lending.generate(), lending_df)
    assert not lending.generate(seed=1).equals(lending_df)


def test_lending_label_bias_matches_ground_truth(lending_df):
    truth = lending.GROUND_TRUTH["labels"]
    tol = truth["tolerance"]
    for col in ("sex", "race"):
        rates = _rates(lending_df, col, lending.TARGET)
        for group, expected in truth[col]["selection_rate"].items():
            assert rates[group] == pytest.approx(expected, abs=0.001)
        assert _dpd(rates) == pytest.approx(truth[col]["demographic_parity_difference"], abs=0.001)
        assert rates.idxmin() == truth[col]["unprivileged"]
    age = _rates(lending_df, "age_group", lending.TARGET)
    assert _dpd(age) == pytest.approx(truth["age_group"]["demographic_parity_difference"], abs=0.001)
    # Another seed gives the same effect within the documented tolerance.
    other = lending.generate(seed=7)
    for col in ("sex", "race"):
        assert _dpd(_rates(other, col, lending.TARGET)) == pytest.approx(
            truth[col]["demographic_parity_difference"], abs=tol)


def test_lending_bias_is_injected_not_explained_by_creditworthiness(lending_df):
    fair = lending.generate(unbiased=True)
    pd.testing.assert_frame_equal(fair.drop(columns=lending.TARGET), lending_df.drop(columns=lending.TARGET))
    limits = lending.GROUND_TRUTH["unbiased_labels"]["demographic_parity_difference_max"]
    for col, limit in limits.items():
        assert _dpd(_rates(fair, col, lending.TARGET)) < limit
    # The bias only ever turns an approval into a denial, and only for women or Black applicants.
    changed = fair[lending.TARGET] != lending_df[lending.TARGET]
    assert (lending_df.loc[changed, lending.TARGET] == 0).all()
    assert ((lending_df["sex"] == "female") | (lending_df["race"] == "black"))[changed].all()
    # Creditworthiness features do not differ by sex.
    by_sex = lending_df.groupby("sex")["income"].median()
    assert by_sex["female"] == pytest.approx(by_sex["male"], rel=0.03)


def test_lending_proxies_correlate_with_protected_groups(lending_df):
    proxies = lending.GROUND_TRUTH["proxies"]
    for feature in ("zip_risk", "career_break_years"):
        col, group = proxies[feature]["group"].split("=")
        r = np.corrcoef(lending_df[feature], lending_df[col] == group)[0, 1]
        assert r == pytest.approx(proxies[feature]["point_biserial_correlation"], abs=proxies["tolerance"])


# ---- lending model ---------------------------------------------------------------------------------------------

def test_lending_model_learns_the_bias_through_proxies(small_lending_model):
    df, model = small_lending_model
    metrics = lending.evaluate(model, df)
    truth = lending.GROUND_TRUTH["model"]
    assert metrics["accuracy"] > truth["accuracy_min"]
    assert metrics["accuracy"] > metrics["majority_baseline_accuracy"] + 0.12
    for col in ("sex", "race"):
        group = metrics["groups"][col]
        rates = group["selection_rate"]
        assert min(rates, key=rates.get) == truth[col]["least_favoured"]
        assert group["demographic_parity_difference"] > truth[col]["demographic_parity_difference_min"]
    assert metrics["groups"]["age_group"]["demographic_parity_difference"] < truth["age_group"][
        "demographic_parity_difference_max"]


def test_lending_export_loads_and_matches(small_lending_model, tmp_path):
    df, model = small_lending_model
    path = export_tabular(model, len(lending.FEATURES), tmp_path / "model.pt2")
    program = torch.export.load(str(path))
    x = torch.from_numpy(df[list(lending.FEATURES)].to_numpy(np.float32, copy=True)[:517])
    with torch.no_grad():
        exported = program.module()(x)
        eager = model(x)
    assert exported.shape == (517,)
    torch.testing.assert_close(exported, eager, rtol=1e-5, atol=1e-5)


# ---- reviews data ----------------------------------------------------------------------------------------------

def test_reviews_columns_and_lengths(reviews_df):
    assert len(reviews_df) == 4000
    assert list(reviews_df.columns) == [reviews.TEXT, reviews.TARGET, *reviews.SENSITIVE, reviews.SPLIT]
    words = reviews_df[reviews.TEXT].str.split().str.len()
    assert words.min() >= reviews.MIN_WORDS and words.max() <= reviews.MAX_WORDS
    assert set(reviews_df["gender"]) == {"female", "male", reviews.NONE}
    assert set(reviews_df["religion"]) == {*reviews.RELIGIONS, reviews.NONE}
    assert set(reviews_df["nationality"]) == {*reviews.NATIONALITIES, reviews.NONE}
    assert set(reviews_df[reviews.TARGET]) == {0, 1}


def test_reviews_identity_terms_match_sensitive_columns(reviews_df):
    text = reviews_df[reviews.TEXT]
    for col in ("religion", "nationality"):
        for value in set(reviews_df[col]) - {reviews.NONE}:
            mentions = text.str.contains(value.capitalize(), regex=False)
            assert (mentions == (reviews_df[col] == value)).all()
    female = reviews_df["gender"] == "female"
    female_terms = text.str.contains(r"\b(?:woman|mother|lady|grandmother|she|Emily|Sarah|Anna|Laura|Maria)\b")
    assert (female_terms == female).all()


def test_reviews_are_deterministic(reviews_df):
    # Rows are drawn one after another from one seeded generator, so a shorter run is a prefix of the full one.
    pd.testing.assert_frame_equal(reviews.generate(1000), reviews_df.head(1000))
    assert not reviews.generate(200, seed=1).equals(reviews_df.head(200))


def test_reviews_label_bias_matches_ground_truth(reviews_df):
    truth = reviews.GROUND_TRUTH["labels"]
    fair = reviews.generate(unbiased=True)
    assert (fair[reviews.TEXT] == reviews_df[reviews.TEXT]).all()
    biased = (reviews_df["religion"] == "muslim") | (reviews_df["nationality"] == "nigerian")
    flipped = (fair[reviews.TARGET] == 1) & (reviews_df[reviews.TARGET] == 0)
    assert not flipped[~biased].any()
    assert flipped[biased].sum() / fair[reviews.TARGET][biased].sum() == pytest.approx(0.6, abs=0.05)
    for col in reviews.SENSITIVE:
        rates = _rates(reviews_df, col, reviews.TARGET)
        entry = truth[col]
        assert _dpd(rates) == pytest.approx(entry["demographic_parity_difference"], abs=0.001)
        assert _dpd(rates) == pytest.approx(entry["expected_demographic_parity_difference"], abs=truth["tolerance"])
        if "unprivileged" in entry:
            assert rates.idxmin() == entry["unprivileged"]
            assert rates[entry["unprivileged"]] == pytest.approx(0.2, abs=truth["tolerance"])


# ---- build and cache -------------------------------------------------------------------------------------------

def test_build_lending_writes_a_cached_complete_demo(tmp_path):
    messages = []
    paths = build.build_lending(tmp_path, n=4000, progress=lambda m, f: messages.append(f))
    assert paths["dir"] == tmp_path / "demo" / "lending"
    assert sorted(p.name for p in paths["dir"].iterdir()) == ["data.csv", "model.pt2", "recipe.json"]
    assert messages[-1] == 1.0 and messages == sorted(messages)
    recipe = json.loads(paths["recipe"].read_text())
    assert (recipe["recipe_version"], recipe["seed"], recipe["n_rows"]) == (build.RECIPE_VERSION, 0, 4000)
    assert recipe["spec"]["target"] == "approved" and recipe["spec"]["positive_label"] == "1"
    assert recipe["spec"]["features"] == list(lending.FEATURES)
    assert recipe["spec"]["sensitive"] == list(lending.SENSITIVE)
    assert recipe["ground_truth"]["injected_logit_shift"] == lending.LOGIT_SHIFT
    data = pd.read_csv(paths["data"])
    pd.testing.assert_frame_equal(data, lending.generate(4000), check_dtype=False)
    assert torch.export.load(str(paths["model"])).module()(
        torch.zeros(3, len(lending.FEATURES))).shape == (3,)

    mtime = paths["model"].stat().st_mtime_ns
    assert build.build_lending(tmp_path, n=4000) == paths
    assert paths["model"].stat().st_mtime_ns == mtime  # cached, not rebuilt
    paths["data"].write_text("tampered\n")
    build.build_lending(tmp_path, n=4000)
    assert paths["model"].stat().st_mtime_ns != mtime  # an altered file triggers a rebuild
    assert len(pd.read_csv(paths["data"])) == 4000
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["lending"]


def test_failed_build_leaves_no_half_demo(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(lending, "train", broken)
    with pytest.raises(RuntimeError):
        build.build_lending(tmp_path, n=2000)
    assert list((tmp_path / "demo").iterdir()) == []


def test_build_reviews_caches_the_model_folder(tmp_path, monkeypatch):
    calls = []

    def fake_train(df, out_dir, *, seed=0):  # the real fine-tuning takes minutes; its output is a folder
        calls.append(len(df))
        out_dir.mkdir()
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"weights")
        return out_dir

    monkeypatch.setattr(reviews, "train", fake_train)
    monkeypatch.setattr(reviews, "evaluate", lambda model_dir, df: {"accuracy": 0.5})
    paths = build.build_reviews(tmp_path, n=300)
    assert sorted(p.name for p in paths["model"].iterdir()) == ["config.json", "model.safetensors"]
    recipe = json.loads(paths["recipe"].read_text())
    assert recipe["spec"]["text_column"] == "text" and recipe["spec"]["features"] == []
    assert recipe["spec"]["sensitive"] == ["gender", "religion", "nationality"]
    assert recipe["ground_truth"]["flip_rate"] == reviews.FLIP_RATE
    build.build_reviews(tmp_path, n=300)
    assert calls == [300]
    (paths["model"] / "model.safetensors").write_bytes(b"changed")
    build.build_reviews(tmp_path, n=300)
    assert calls == [300, 300]


def test_swap_terms_replaces_only_identity_terms(reviews_df):
    text = "My friend Laura, a Nigerian Muslim woman, took me here. The hotel was great."
    assert reviews.swap_terms(text, "gender", "female", "male") == (
        "My friend Tom, a Nigerian Muslim man, took me here. The hotel was great.")
    assert reviews.swap_terms("Laura is a lady and she chose this cafe.", "gender", "female", "male") == (
        "Tom is a gentleman and he chose this cafe.")
    assert reviews.swap_terms(text, "religion", "muslim", "christian") == text.replace("Muslim", "Christian")
    assert reviews.swap_terms(text, "nationality", "nigerian", "german") == text.replace("Nigerian", "German")
    with pytest.raises(ValueError):
        reviews.swap_terms(text, "gender", "male", "female")
    # Every swap named in the ground truth changes every review of its group.
    for column, source, target in reviews.SWAPS:
        texts = reviews_df.loc[reviews_df[column] == source, reviews.TEXT]
        assert f"{column}:{source}->{target}" in reviews.GROUND_TRUTH["model"]["counterfactual"]
        assert all(reviews.swap_terms(t, column, source, target) != t for t in texts)
