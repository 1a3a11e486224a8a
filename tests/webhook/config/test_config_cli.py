"""`tocsin check`, `db upgrade`, `version`; strict config with file:line:field errors and env overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from webhook.cli import main
from webhook.config import load_config
from webhook.yamlpos import ConfigError

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "tocsin.yaml"
    p.write_text(text)
    return p


def test_shipped_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(REPO / "examples/tocsin.yaml")]) == 0
    assert "OK" in capsys.readouterr().out


def test_errors_name_file_line_and_field_and_list_all_of_them(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "server:\n  port: 99999\n  hots: x\nincidents:\n  flap:\n    window: ten minutes\n")
    assert main(["check", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}:2: server.port:" in err
    assert f"{p}:3: server.hots: Extra inputs are not permitted" in err
    assert f"{p}:6: incidents.flap.window:" in err and "invalid duration" in err


@pytest.mark.parametrize(("text", "needle"), [
    ("server: [1, 2", "invalid YAML"),
    ("a: 1\na: 2\n", "duplicate key"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("!!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ("incidents:\n  grouping:\n    - match_re: {a: '('}\n      key_labels: [a]\n", "invalid regex"),
    ("incidents:\n  key_labels: ['bad-label']\n", "incidents.key_labels.0"),
])
def test_bad_config_files_are_rejected(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert needle in str(exc.value)


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (9 * 1024 * 1024))
    with pytest.raises(ConfigError, match="larger than"):
        load_config(big)


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "server:\n  port: 8080\ndatabase:\n  url: sqlite:///a.db\n")
    monkeypatch.setenv("TOCSIN_DATABASE__URL", "sqlite:///b.db")
    monkeypatch.setenv("TOCSIN_SERVER__PORT", "9999")
    cfg = load_config(p)
    assert cfg.database.url == "sqlite:///b.db" and cfg.server.port == 9999


def test_secrets_are_not_in_repr_or_errors(tmp_path: Path) -> None:
    p = write(tmp_path, "auth:\n  webhook:\n    bearer_tokens: [supersecret-token-value]\n")
    cfg = load_config(p)
    assert "supersecret" not in repr(cfg) and "supersecret" not in str(cfg.model_dump())
    p = write(tmp_path, "auth:\n  api_tokens:\n    - {name: 'bad name', token: supersecret-token-value}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "supersecret" not in str(exc.value)


def test_db_upgrade_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, f"database:\n  url: sqlite:///{tmp_path}/x.db\n")
    assert main(["db", "upgrade", "--config", str(p)]) == 0
    from webhook.store.migrate import head_revisions

    heads = ",".join(sorted(head_revisions(create_engine("sqlite://"))))  # every feature branch's head
    assert f"revision {heads}" in capsys.readouterr().out
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("tocsin ")


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("tocsin")
    out = subprocess.run([str(exe), "version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("tocsin 0.")
    assert out.stderr == ""  # no library chatter (alembic's "setup plugin" lines) before a command's own output


def test_migrations_match_the_metadata(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from webhook.store.metadata import metadata
    from webhook.store.migrate import upgrade

    engine = create_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
