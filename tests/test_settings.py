from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import Settings


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TOP_K", "7")
    monkeypatch.setenv("SCOPE_THRESHOLD", "0.5")
    monkeypatch.setenv("PORT", "8000")
    s = Settings.from_env()
    assert (s.data_dir, s.top_k, s.scope_threshold, s.port) == (tmp_path / "d", 7, 0.5, 8000)


def test_keyword_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("TOP_K", "7")
    assert Settings.from_env(top_k=2).top_k == 2


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("TOP_K", "many")
    with pytest.raises(ConfigError, match="TOP_K='many'"):
        Settings.from_env()


def test_out_of_range_values_are_rejected():
    with pytest.raises(ConfigError, match="SCOPE_THRESHOLD=2.0"):
        Settings.from_env({}, scope_threshold=2.0)
    with pytest.raises(ConfigError, match="TOP_K=0"):
        Settings.from_env({"TOP_K": "0"})


def test_default_model_is_the_bundled_one():
    path = Path(Settings.from_env({}).model_path)
    assert (path / "modules.json").exists()
