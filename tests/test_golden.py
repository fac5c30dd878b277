"""audit.json of the in-memory, streamed and Ray engines stays what it was (apart from timings, versions and
measured energy): a golden file per engine, written by the code before the model worker and the registries."""
import pytest

from auditkit import AuditSpec
from auditkit.audit import run_audit
from auditkit.engine_registry import EngineSetting
from tests.builders import tabular_frame, tabular_model
from tests.golden_support import as_json, differences, golden, normalised

ENGINES = {"memory": EngineSetting(), "stream": EngineSetting("stream", chunk_rows=128)}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    data = folder / "data.csv"
    tabular_frame(400).to_csv(data, index=False)
    spec = AuditSpec(target="y", sensitive=("sex", "race"), features=("x1", "x2"), positive_label="1")
    return data, tabular_model(folder / "model.pt2"), spec


def _check(name: str, audit: dict) -> None:
    got = normalised(as_json(audit))
    problems = differences(got, golden(name))
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize("engine", list(ENGINES))
def test_local_engines_match_their_golden_audit(small, engine):
    data, model, spec = small
    audit, _ = run_audit(str(data), spec, model=str(model), engine=ENGINES[engine])
    _check(engine, audit)


def test_ray_engine_matches_its_golden_audit(small, ray_cluster):
    data, model, spec = small
    audit, _ = run_audit(str(data), spec, model=str(model), engine=EngineSetting("ray", chunk_rows=128, workers=1))
    _check("ray", audit)
