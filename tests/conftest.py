import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """Every test gets its own AUDITKIT_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("AUDITKIT_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def local_mode():
    """Every test starts in local mode: a test that configures sign-in (which the app declares process-wide, see
    `auditkit.access.require_sign_in`) does not leave it on for the next."""
    from auditkit.access import require_sign_in

    require_sign_in(False)
    yield
    require_sign_in(False)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_cluster():
    """A local two-CPU Ray cluster shared by the Ray tests; skipped when Ray (an optional extra) is not installed."""
    ray = pytest.importorskip("ray")
    from auditkit.scale.cluster import ensure_ray

    ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()
