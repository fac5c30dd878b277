"""Chunked local streaming and the Ray engine give the in-memory engine's predictions and fairness numbers exactly."""
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from auditkit.audit import run_audit
from auditkit.engine_registry import EngineSetting
from auditkit.prepare import prepare
from auditkit.cli import main
from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.errors import AuditkitError, DataValidationError, SettingsError
from auditkit.fairness import assess, assess_counts
from auditkit.fairness.section import fairness_report
from auditkit.scale.engine import aligned_chunk, predictions_file
from auditkit.scale.stream import iter_chunks
from tests.builders import tabular_frame, tabular_model

PREDICTIONS_ONLY = AuditSpec(target="y", sensitive=("sex", "race"), prediction_column="pred", score_column="score")
NO_SCORES = AuditSpec(target="y", sensitive=("sex", "race"), prediction_column="pred")
TABULAR = AuditSpec(target="y", sensitive=("sex", "race"), features=("x1", "x2"))
COUNT_KEYS = ("rows", "accuracy", "positive_rate", "label_positive_rate", "predicted_class_counts", "has_scores", "source")


def logged_frame(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """A decision log: features, label, sensitive attributes (with a group called "NA"), a biased prediction, a score."""
    frame = tabular_frame(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    flip = rng.random(n) < np.where(frame["sex"] == "female", 0.3, 0.1)
    frame["pred"] = np.where(flip, 1 - frame["y"], frame["y"])
    frame["score"] = np.clip(frame["pred"] * 0.6 + rng.random(n) * 0.4, 0, 1).round(4)
    return frame


def same_counts(a: dict, b: dict) -> None:
    assert a["fairness"] == b["fairness"]
    for key in COUNT_KEYS:
        assert a["predictions"][key] == b["predictions"][key], key
    assert a["inputs"]["rows"] == b["inputs"]["rows"] and a["inputs"]["classes"] == b["inputs"]["classes"]
    assert a["inputs"]["data_sha256"] == b["inputs"]["data_sha256"]


def test_assess_counts_equals_assess_on_the_rows():
    rng = np.random.default_rng(7)
    n = 4000
    sens = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["p", "q"], n, p=[0.995, 0.005]),
                         "c": rng.choice(["NA", "k"], n)})
    y_true = rng.choice(["0", "1"], n)
    y_pred = np.where(rng.random(n) < 0.2, np.where(y_true == "1", "0", "1"), y_true)
    scores = rng.random(n).round(2)
    rows = assess(y_true, y_pred, sens, scores, min_group_size=50)

    kind = np.select([(y_true == "0") & (y_pred == "0"), (y_true == "0") & (y_pred == "1"),
                      (y_true == "1") & (y_pred == "0")], ["tn", "fp", "fn"], "tp")
    cells = pd.crosstab([sens.a, sens.b, sens.c], kind).reindex(columns=["tn", "fp", "fn", "tp"], fill_value=0).reset_index()
    cells.columns.name = None
    shuffled = cells.sample(frac=1.0, random_state=3).reset_index(drop=True)  # cell order does not matter
    row_cell = sens.merge(shuffled.reset_index(), on=["a", "b", "c"], how="left")["index"].to_numpy()
    counted = assess_counts(shuffled, row_cell=row_cell, y_true=y_true == "1", y_score=scores, min_group_size=50)

    assert counted.to_dict() == rows.to_dict()
    assert counted.n_rows == n
    assert counted["b"].small_groups == rows["b"].small_groups != {}
    no_scores = assess_counts(shuffled, min_group_size=50).to_dict()
    assert no_scores == assess(y_true, y_pred, sens, min_group_size=50).to_dict()
    assert "roc_auc" not in no_scores["a"]["by_group"]["x"]


def test_sample_rows_is_a_seeded_random_sample_in_file_order(tmp_path):
    from auditkit.scale.stream import sample_rows

    frame = logged_frame(1000).reset_index(names="row")
    frame.to_parquet(tmp_path / "log.parquet", row_group_size=300)
    sample = sample_rows(tmp_path / "log.parquet", ["row", "sex"], total=1000, rows=50, chunk_rows=128, seed=3)
    picked = np.sort(np.random.default_rng(3).choice(1000, size=50, replace=False))
    assert sample["row"].tolist() == picked.tolist()
    assert sample["sex"].tolist() == frame["sex"].iloc[picked].tolist()


def test_iter_chunks_reads_a_folder_in_order_with_exact_chunk_sizes(tmp_path):
    frame = logged_frame(1000)
    folder = tmp_path / "log"
    folder.mkdir()
    for i, start in enumerate(range(0, 1000, 400)):
        frame.iloc[start:start + 400].to_csv(folder / f"part-{i}.csv", index=False)
    chunks = list(iter_chunks(folder, ["race", "y"], chunk_rows=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    joined = pd.concat(chunks, ignore_index=True)
    assert joined["race"].tolist() == frame["race"].tolist()  # "NA" stays the text "NA"
    assert joined["y"].tolist() == frame["y"].astype(str).tolist()


def test_streamed_predictions_only_audit_equals_in_memory(tmp_path):
    data = tmp_path / "log.csv"
    logged_frame().to_csv(data, index=False)
    local, _ = run_audit(data, PREDICTIONS_ONLY)
    streamed, ctx = run_audit(data, PREDICTIONS_ONLY, engine=EngineSetting("stream", chunk_rows=701))
    same_counts(local, streamed)
    assert local["fairness"]["sex"]["by_group"]["female"]["roc_auc"] is not None
    assert streamed["scale"]["engine"] == "stream" and streamed["scale"]["chunk_rows"] == 701
    assert streamed["scale"]["sample"] == {"rows": 2000, "seed": 0, "sections": ["explanations", "privacy"]}
    assert len(ctx.frame) == 2000 and "explanations" in streamed and "privacy" in streamed
    assert ctx.frame["pred"].tolist() != logged_frame()["pred"].astype(str).head(2000).tolist()  # not the first rows
    assert fairness_report(ctx).to_dict() == streamed["fairness"]  # the panels read every row's numbers


def test_streamed_tabular_model_audit_equals_in_memory_and_caches_parquet(tmp_path):
    data = tmp_path / "log.parquet"
    logged_frame()[["x1", "x2", "sex", "race", "y"]].to_parquet(data, row_group_size=500)
    model = tabular_model(tmp_path / "model.pt2")
    local, ctx = run_audit(data, TABULAR, model=model, batch_size=64)
    streamed, _ = run_audit(data, TABULAR, model=model, batch_size=64, engine=EngineSetting("stream", chunk_rows=150))
    same_counts(local, streamed)
    assert streamed["scale"]["chunk_rows"] == aligned_chunk(150, 64) == 192
    assert streamed["predictions"]["cached"] is False
    cached = pq.read_table(next(predictions_file("*", Settings.from_env()).parent.glob("*.parquet"))).to_pandas()
    assert np.array_equal(cached["prediction"].to_numpy(), ctx.predictions.indices)
    assert np.array_equal(cached[["p0", "p1"]].to_numpy(), ctx.predictions.probabilities)
    again, _ = run_audit(data, TABULAR, model=model, batch_size=64, engine=EngineSetting("stream", chunk_rows=150))
    assert again["predictions"]["cached"] is True and again["fairness"] == local["fairness"]


def test_chunked_engines_refuse_what_they_cannot_do(tmp_path):
    frame = logged_frame(1500)
    data = tmp_path / "log.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(SettingsError, match="unknown engine 'spark'"):
        run_audit(data, NO_SCORES, engine="spark")
    with pytest.raises(AuditkitError, match="from a path"):
        run_audit(data.read_bytes(), NO_SCORES, engine="stream")
    broken = frame.astype({"sex": object})
    broken.loc[900, "sex"] = ""
    broken.to_csv(data, index=False)
    with pytest.raises(DataValidationError, match=r"rows 701-1400: sensitive attribute 'sex' has 1 empty"):
        run_audit(data, NO_SCORES, engine=EngineSetting("stream", chunk_rows=700))
    three = frame.assign(y=frame["y"].where(frame.index % 3 > 0, 2), pred=frame["pred"].where(frame.index % 3 > 0, 2))
    three.to_csv(data, index=False)
    with pytest.raises(SettingsError, match="binary labels. Fix: use --engine memory"):
        run_audit(data, NO_SCORES, engine="stream")


def test_cli_stream_engine_writes_the_in_memory_numbers(tmp_path, capsys):
    data = tmp_path / "log.csv"
    logged_frame().to_csv(data, index=False)
    code = main(["audit", "--data", str(data), "--target", "y", "--sensitive", "sex,race", "--prediction-column", "pred",
                 "--engine", "stream", "--chunk-rows", "500", "--out", str(tmp_path / "out"), "--quiet", "--exit-zero"])
    assert code == 0, capsys.readouterr().err
    written = json.loads((tmp_path / "out" / "audit.json").read_text())
    local, _ = run_audit(data, NO_SCORES)
    same_counts(local, written)
    assert written["scale"]["chunk_rows"] == 500


def test_ray_tabular_model_predictions_and_fairness_equal_local(ray_cluster, tmp_path):
    data = tmp_path / "log.parquet"
    logged_frame()[["x1", "x2", "sex", "race", "y"]].to_parquet(data, row_group_size=700)
    model = tabular_model(tmp_path / "model.pt2")
    ctx = prepare(data, TABULAR, model=model, batch_size=256)
    local, _ = run_audit(data, TABULAR, model=model, batch_size=256)
    on_ray, _ = run_audit(data, TABULAR, model=model, batch_size=256, engine=EngineSetting("ray", workers=2))
    same_counts(local, on_ray)
    assert on_ray["scale"]["engine"] == "ray" and on_ray["scale"]["workers"] == 2
    files = list(predictions_file("x", Settings.from_env()).parent.glob("*.parquet"))
    assert len(files) == 1
    written = pq.read_table(files[0]).to_pandas()
    assert np.array_equal(written["prediction"].to_numpy(), ctx.predictions.indices)
    assert np.array_equal(written[["p0", "p1"]].to_numpy(), ctx.predictions.probabilities)


def test_ray_predictions_only_folder_and_cli_equal_local(ray_cluster, tmp_path):
    frame = logged_frame()
    whole = tmp_path / "log.csv"
    frame.to_csv(whole, index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, len(frame), 1100)):
        frame.iloc[start:start + 1100].to_csv(folder / f"part-{i}.csv", index=False)
    code = main(["audit", "--data", str(folder), "--target", "y", "--sensitive", "sex,race", "--prediction-column",
                 "pred", "--engine", "ray", "--out", str(tmp_path / "out"), "--quiet", "--exit-zero"])
    assert code == 0
    written = json.loads((tmp_path / "out" / "audit.json").read_text())
    local, _ = run_audit(whole, NO_SCORES)
    assert written["fairness"] == local["fairness"]
    assert written["predictions"]["accuracy"] == local["predictions"]["accuracy"]
    assert written["scale"]["engine"] == "ray"
    scored_local, _ = run_audit(whole, PREDICTIONS_ONLY)
    scored_ray, _ = run_audit(whole, PREDICTIONS_ONLY, engine="ray")
    same_counts(scored_local, scored_ray)


@pytest.mark.parametrize("values", [
    pd.Series([1, 0, 2]), pd.Series(np.array([1, 2], dtype=np.uint8)), pd.Series([True, False]),
    pd.Series([1.0, 0.0, -3.0]), pd.Series([1.5, 2.0]), pd.Series([1.0, np.nan]), pd.Series([1e20, 0.0]),
    pd.Series(["a", "NA", "1"], dtype="str"), pd.Series(["a", None, "1"], dtype="str"),
    pd.Series(["a", 1, 2.0], dtype=object),
])
def test_label_strings_equal_the_validators_label_text(values):
    from auditkit.data.validate import as_label_strings
    from auditkit.scale.fairness import label_strings

    fast, reference = label_strings(values), as_label_strings(values)
    assert fast.tolist() == reference.tolist() and fast.dtype == reference.dtype


def test_tally_of_raw_keys_equals_tally_of_typed_rows():
    from auditkit.scale.fairness import tally_chunk, tally_predictions, type_chunk

    frame = pd.DataFrame({"grp": [1, 2, 1, 2, 1, 1], "y": [1, "1", 0.0, "0", True, 1.0],
                          "pred": ["1", 1, 0, 0.0, "0", False]}, dtype=object)
    spec = AuditSpec(target="y", sensitive=("grp",), prediction_column="pred")
    typed = type_chunk(frame, spec, needs_features=False, where="rows")
    expected = tally_chunk(typed[["grp"]], typed["y"], typed["pred"])
    fast = tally_predictions(frame, spec, where="rows")
    order = ["grp", "_label", "_prediction"]
    assert fast.sort_values(order).reset_index(drop=True).equals(expected.sort_values(order).reset_index(drop=True))
    assert int(fast["rows"].sum()) == 6 and len(fast) == 5  # 1, "1", True and 1.0 are one label


def test_streamed_text_model_predictions_and_fairness_equal_in_memory(tmp_path, monkeypatch):
    from auditkit.fairness.section import build_section
    from tests.builders import text_frame, tiny_bert

    from auditkit import sections

    # the sections built on the sample are not under test
    monkeypatch.setattr(sections, "_SECTIONS", {"fairness": sections._SECTIONS["fairness"]})
    model = tiny_bert(tmp_path / "bert")
    data = tmp_path / "reviews.csv"
    text_frame(120).to_csv(data, index=False)
    spec = AuditSpec(target="label", sensitive=("group",), text_column="text", positive_label="class_1")
    ctx = prepare(data, spec, model=model, batch_size=16)
    streamed, _ = run_audit(data, spec, model=model, batch_size=16, engine=EngineSetting("stream", chunk_rows=40))
    assert streamed["fairness"] == build_section(ctx)
    assert streamed["scale"]["chunk_rows"] == 48
    cached = pq.read_table(next(predictions_file("*", Settings.from_env()).parent.glob("*.parquet"))).to_pandas()
    assert np.array_equal(cached["prediction"].to_numpy(), ctx.predictions.indices)
    assert np.allclose(cached[["p0", "p1"]].to_numpy(), ctx.predictions.probabilities, rtol=0, atol=1e-6)
