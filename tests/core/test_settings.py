import pytest

from vde.errors import SettingsError
from vde.settings import load_settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.database == "sqlite:///vde.db"
    assert s.gap_threshold == 4 * 3600 and s.retry_horizon == 2 * 86400
    assert s.backfill_horizon == 30 * 86400


def test_toml_then_env_then_overrides(monkeypatch, tmp_path):
    cfg = tmp_path / "vde.toml"
    cfg.write_text('gap_threshold = "2h"\nport = 9000\nsmtp_recipients = ["a@x", "b@x"]\n')
    monkeypatch.setenv("VDE_CONFIG", str(cfg))
    s = load_settings()
    assert s.gap_threshold == 7200 and s.port == 9000 and s.smtp_recipients == ["a@x", "b@x"]
    monkeypatch.setenv("VDE_PORT", "9100")
    monkeypatch.setenv("VDE_SMTP_RECIPIENTS", "c@x, d@x")
    s = load_settings()
    assert s.port == 9100 and s.smtp_recipients == ["c@x", "d@x"]
    assert load_settings(port=9200).port == 9200


def test_invalid_setting_names_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VDE_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="setting 'port'"):
        load_settings()


def test_unknown_key_in_file_is_named(monkeypatch, tmp_path):
    cfg = tmp_path / "vde.toml"
    cfg.write_text("gap_treshold = 10\n")
    monkeypatch.setenv("VDE_CONFIG", str(cfg))
    with pytest.raises(SettingsError, match="gap_treshold"):
        load_settings()


def test_secret_not_in_repr(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VDE_SMTP_PASSWORD", "hunter2-very-secret")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
