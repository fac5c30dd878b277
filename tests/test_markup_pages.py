"""No markup from data in the dashboard (AppTest): hostile group names, file names and rule names reach warnings,
captions, error boxes, labels and chart text escaped, as the characters typed."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from auditkit.access import RAY_ADDRESSES_ENV
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.fairness.section import build_section
from auditkit.markup import chart_text, plain

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ["![beacon](http://127.0.0.1:9/beacon.png)", "[click](javascript:alert(1))",
           '<a href="http://127.0.0.1:9/">link</a>', "<https://127.0.0.1:9/auto>", ":red[alarm] $x$"]
# Markup that must not reach Streamlit's Markdown unescaped.
RAW = re.compile(r"(?<!\\)(!\[|\]\(|<a |<https|:red\[|\$x)")


def hostile_frame(n: int = 600) -> pd.DataFrame:
    """Predictions in the data; 'band' has one big group and five small ones named with markup."""
    rng = np.random.default_rng(0)
    band = np.array(["plain"] * (n - 10 * len(HOSTILE)) + [h for h in HOSTILE for _ in range(10)])
    score = rng.random(n)
    return pd.DataFrame({"sex": rng.choice(["woman", "man"], n), "band": band,
                         "label": np.where(rng.random(n) < 0.5, "1", "0"), "pred": np.where(score >= 0.5, "1", "0"),
                         "score": score})


def markdown_texts(at: AppTest) -> list[str]:
    """Every Markdown body on the page: markdown, captions, alert boxes and widget or metric labels."""
    texts = [e.value for kind in ("markdown", "caption", "warning", "error", "info", "success") for e in at.get(kind)]
    return texts + [m.label for m in at.metric] + [s.label for s in at.selectbox]


def assert_no_raw_markup(at: AppTest) -> None:
    found = [t for t in markdown_texts(at) if RAW.search(t)]
    assert not found, found


def test_fairness_page_escapes_hostile_group_names_in_warnings_and_charts(tmp_path):
    frame = hostile_frame()
    spec = AuditSpec(target="label", sensitive=("sex", "band"), prediction_column="pred", score_column="score")
    ctx = AuditContext(spec, frame, "7" * 64,  # a digest no other page test uses: caches are per process
                       frame["label"].to_numpy(str), frame["pred"].to_numpy(str),
                       frame["score"].to_numpy(), ("0", "1"), Settings(home=tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "fairness.py"), default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["audit"] = {"fairness": build_section(ctx)}
    at.run()
    at.selectbox[0].set_value("band").run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    for name in HOSTILE:
        assert any(f"group '{plain(name)}' has 10 rows" in w for w in warnings), (name, warnings)
    assert_no_raw_markup(at)
    [chart] = at.get("plotly_chart")
    groups = json.loads(chart.proto.spec)["data"][0]["x"]
    assert set(groups) == {"plain", *map(chart_text, HOSTILE)}  # Plotly shows entities as the characters
    assert not any("<a " in g or "<https" in g for g in groups)


def test_run_page_escapes_the_file_name_warnings_and_panel_errors():
    image, link = HOSTILE[0], HOSTILE[1]
    audit = {"inputs": {"rows": 600, "warnings": [f"group '{image}' of 'band' has only 10 rows (minimum 30)"],
                        "data_sha256": "a" * 64, "model_sha256": None, "model_format": None, "columns": {},
                        "versions": {}},
             "predictions": {"accuracy": 0.5, "positive_rate": 0.5},
             "energy": {"error": f"could not read {link}"}}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page("pages/run.py")
    at.session_state["audit"] = audit
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == [f"group '{plain(image)}' of 'band' has only 10 rows \\(minimum 30\\)",
                                             f"The energy panel could not run: could not read {plain(link)}"]
    assert_no_raw_markup(at)


def test_setup_page_escapes_dataset_warnings_and_offers_only_allowed_ray_clusters(monkeypatch):
    monkeypatch.setenv(RAY_ADDRESSES_ENV, "ray://ray-a:10001")
    data = io.BytesIO()
    hostile_frame().to_csv(data, index=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/setup.py").run()
    at.get("file_uploader")[0].upload(f"{HOSTILE[0]}.csv", data.getvalue(), "text/csv").run()
    at.radio[0].set_value("Predictions are in the dataset").run()
    at.selectbox[0].set_value("label").run()
    at.multiselect[0].set_value(["sex", "band"]).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == len(HOSTILE)
    for name in HOSTILE:
        assert any(f"group '{plain(name)}' of 'band' has only 10 rows" in w for w in warnings)
    assert_no_raw_markup(at)
    # the cluster is chosen from a list, not typed
    assert at.selectbox(key="ray_address").options == ["A local cluster on this machine", "ray://ray-a:10001"]
    assert not [t for t in at.text_input if "Ray" in t.label]


def test_an_error_quoting_a_hostile_rule_name_is_escaped(tmp_path):
    at = AppTest.from_file(str(ROOT / "pages" / "report.py"), default_timeout=60)
    at.session_state["audit"] = {"inputs": {"rows": 10}, "predictions": {"accuracy": 0.8}}
    at.run()
    at.radio[0].set_value("Upload a policy file").run()
    policy = f"rules:\n  '{HOSTILE[0]}': {{above: 1}}\n".encode()
    at.get("file_uploader")[0].upload("policy.yaml", policy, "application/yaml").run()
    assert not at.exception
    [box] = at.error
    assert box.value.startswith("**Problem:** " + plain(f"the uploaded policy: rule '{HOSTILE[0]}': unknown comparator"))
    assert_no_raw_markup(at)
