"""Brian2 state is reset around every test (as brian2/conftest.py does)."""

import brian2
import pytest


@pytest.fixture(autouse=True)
def _reset_brian2(tmp_path, monkeypatch):
    monkeypatch.setenv("DOPASIM_CACHE", str(tmp_path / "cache"))
    brian2.set_device("runtime")
    saved = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    yield
    brian2.prefs.codegen.target = saved
    brian2.set_device("runtime")
