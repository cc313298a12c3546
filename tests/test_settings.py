from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.settings import Settings


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TOP_K", "7")
    monkeypatch.setenv("CALIBRATION_FILE", str(tmp_path / "c.json"))
    monkeypatch.setenv("PORT", "8000")
    s = Settings.from_env()
    assert (s.data_dir, s.top_k, s.calibration_file, s.port) == (tmp_path / "d", 7, tmp_path / "c.json", 8000)


def test_keyword_overrides_win_over_environment(monkeypatch):
    monkeypatch.setenv("TOP_K", "7")
    assert Settings.from_env(top_k=2).top_k == 2


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("TOP_K", "many")
    with pytest.raises(ConfigError, match="TOP_K='many' is not valid: it should be a valid integer"):
        Settings.from_env()


def test_values_are_parsed_by_the_fields_types():
    settings = Settings.from_env({"INDEX_TIMEOUT": "2.5", "PORT": "8080", "DATA_DIR": "~/clinic-data"})
    assert settings.index_timeout == 2.5 and settings.port == 8080
    assert settings.data_dir == Path("~/clinic-data").expanduser()
    with pytest.raises(ConfigError, match="PORT='80.5' is not valid"):
        Settings.from_env({"PORT": "80.5"})


def test_out_of_range_values_are_rejected():
    with pytest.raises(ConfigError, match="TOP_K=0"):
        Settings.from_env({"TOP_K": "0"})


def test_a_missing_or_broken_calibration_file_says_how_to_restore_it(tmp_path):
    from assistant.answer.guards import UrgentModel
    from assistant.answer.relevance import RelevanceModel

    with pytest.raises(ConfigError, match="restore it from git"):
        RelevanceModel.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"relevance": {"weights": [1], "bias": 0, "threshold": 0.5, "features": []}}')
    with pytest.raises(ConfigError, match="calibrate --write"):
        RelevanceModel.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="no usable urgent threshold"):
        UrgentModel.load(tmp_path / "bad.json")


def test_the_shipped_calibration_loads():
    from assistant.answer.guards import UrgentModel
    from assistant.answer.relevance import FEATURES, RelevanceModel

    settings = Settings.from_env({})
    model = RelevanceModel.load(settings.calibration_file)
    assert len(model.weights) == len(FEATURES) and 0 < model.threshold < 1 and model.fitted_on
    assert 0 < UrgentModel.load(settings.calibration_file).threshold < 1


def test_default_model_is_the_bundled_one():
    path = Path(Settings.from_env({}).model_path)
    assert (path / "modules.json").exists()


def test_unreachable_chroma_server_says_what_to_do(tmp_path):
    from assistant.errors import IndexNotReadyError
    from assistant.index import open_client
    from tests.conftest import free_port

    settings = Settings.from_env({}, data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(IndexNotReadyError, match="cannot reach the Chroma server at 127.0.0.1:.*unset CHROMA_HOST"):
        open_client(settings)


def test_llm_settings_are_checked_and_the_key_is_never_shown(monkeypatch):
    with pytest.raises(ConfigError, match="LLM_MODEL is not"):
        Settings.from_env({"LLM_PROVIDER": "openai"})
    with pytest.raises(ConfigError, match="LLM_PROVIDER='gpt'"):
        Settings.from_env({"LLM_PROVIDER": "gpt", "LLM_MODEL": "x"})
    s = Settings.from_env({"LLM_PROVIDER": "openai", "LLM_MODEL": "m", "LLM_API_KEY": "sk-secret"})
    assert s.llm_api_key == "sk-secret" and "sk-secret" not in repr(s)


def test_evals_refuse_llm_answerer_without_a_model(monkeypatch, capsys):
    from evals.__main__ import main

    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    assert main(["--answerer", "llm"]) == 2
    assert "--answerer llm needs a model" in capsys.readouterr().err


def test_widget_settings_are_checked_with_clear_messages():
    with pytest.raises(ConfigError, match=r"WIDGET_ACCENT='red' must be a hex colour such as '#7b3f61'"):
        Settings.from_env({"WIDGET_ACCENT": "red"})
    with pytest.raises(ConfigError, match=r"WIDGET_ACCENT='#12345' must be a hex colour"):
        Settings.from_env({"WIDGET_ACCENT": "#12345"})
    with pytest.raises(ConfigError, match="WIDGET_POSITION='top' must be 'left' or 'right'"):
        Settings.from_env({"WIDGET_POSITION": "top"})
    with pytest.raises(ConfigError, match="CLINIC_PHONE='call us!' must be a phone number: digits, spaces"):
        Settings.from_env({"CLINIC_PHONE": "call us!"})
    with pytest.raises(ConfigError, match="WIDGET_STARTERS has 7 questions: give at most 6"):
        Settings.from_env({"WIDGET_STARTERS": "|".join("abcdefg")})
    # Every problem at once, so one restart fixes them all.
    with pytest.raises(ConfigError, match="WIDGET_ACCENT=.*WIDGET_POSITION="):
        Settings.from_env({"WIDGET_ACCENT": "blue", "WIDGET_POSITION": "middle"})
    s = Settings.from_env({"WIDGET_ACCENT": "#A36", "WIDGET_POSITION": "left", "CLINIC_PHONE": "+44 (20) 7946-0000",
                           "WIDGET_STARTERS": "Does it hurt? | How long does it last?"})
    assert (s.widget_accent, s.widget_position, s.clinic_phone) == ("#A36", "left", "+44 (20) 7946-0000")
    assert s.starters == ["Does it hurt?", "How long does it last?"]


def test_widget_config_is_built_from_settings():
    from assistant.web.widget_config import widget_config

    config = widget_config(Settings.from_env({"WIDGET_STARTERS": " a? | |b? ", "WIDGET_POSITION": "left"}))
    assert config["starters"] == ["a?", "b?"] and config["position"] == "left" and config["phone"] == ""


def test_varied_settings_are_checked_too():
    from dataclasses import replace

    with pytest.raises(ConfigError, match="PORT=0 must be a positive number"):
        replace(Settings.from_env({}), port=0)
