"""The `tocsin` command: serve, check, db upgrade, version, runbook, route, oncall, trend, report, replay, window."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from webhook import __version__
from webhook.config import TocsinConfig, load_config
from webhook.yamlpos import ConfigError

if TYPE_CHECKING:
    from webhook.incidents.actions import ActionHook


def _load(path: str, **server: object) -> TocsinConfig:
    cfg = load_config(Path(path))
    updates = {k: v for k, v in server.items() if v is not None}
    if updates:
        cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update=updates)})
    return cfg


def _banner(cfg: TocsinConfig, webhook_token: str, api_token: str) -> str:
    base = cfg.server.public_url or f"http://{cfg.server.host}:{cfg.server.port}"
    return f"""
Tocsin {__version__} (dev mode) - database: {cfg.database_url()}
  webhook URL:    {base}/webhook/alertmanager
  webhook token:  {webhook_token}   (kept in {cfg.server.var_dir / 'webhook-token'})
  API token:      {api_token}   (kept in {cfg.server.var_dir / 'api-token'})
  API docs:       {base}/docs      try: curl -H 'Authorization: Bearer <API token>' {base}/api/v1/incidents

Alertmanager receiver (paste into alertmanager.yml):
receivers:
  - name: tocsin
    webhook_configs:
      - url: {base}/webhook/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: {(cfg.server.var_dir / 'webhook-token').resolve()}
"""


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from webhook.app import build_asgi, create_app
    from webhook.auth import resolve_credentials
    from webhook.ingest.process import tune_gc

    cfg = _load(args.config, host=args.host, port=args.port, dev_mode=True if args.dev else None)
    logging.getLogger().setLevel(cfg.server.log_level.upper())
    creds = resolve_credentials(cfg)
    if cfg.server.dev_mode:
        hook = creds.webhook_tokens[0].decode() if creds.webhook_tokens else "(basic auth configured)"
        api = next((k.secret for k in creds.api_tokens if k.name == "dev"), b"(configured in auth.api_tokens)").decode()
        print(_banner(cfg, hook, api), flush=True)
    app = create_app(cfg, creds=creds, ingest_process=cfg.ingest.process)
    sys.setswitchinterval(cfg.server.switch_interval)  # see server.switch_interval: keeps commits flowing
    tune_gc()
    served = build_asgi(app)  # the webhook's fast path in front of the app and all its middleware
    uvicorn.run(served, host=cfg.server.host, port=cfg.server.port, access_log=False, proxy_headers=False,
                log_level=cfg.server.log_level, timeout_graceful_shutdown=5)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cfg = load_config(Path(args.path))
    print(f"{args.path}: OK ({len(cfg.auth.api_tokens)} API tokens, {len(cfg.incidents.grouping)} grouping rules)")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from webhook.store.db import make_engine
    from webhook.store.migrate import current_revision, upgrade

    cfg = _load(args.config)
    engine = make_engine(cfg.database_url(), **cfg.database.engine_options())  # its lock and statement timeouts
    try:
        upgrade(engine)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def cmd_runbook(argv: list[str]) -> int:
    from remediator.cli import main as runbook_main

    rc: int = runbook_main(argv)
    return rc


def _window_release(cfg: TocsinConfig) -> ActionHook:
    """What `tocsin window end` tells: the escalation, whose steps held by the window become due at once."""
    from webhook.escalation.service import Escalation

    return Escalation(cfg, "cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tocsin", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the service")
    s.add_argument("--config", required=True, help="YAML config file")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--dev", action="store_true", help="generate tokens under var/ when none are configured")
    s.set_defaults(fn=cmd_serve)
    c = sub.add_parser("check", help="validate a config file (exit 1 with file:line: field: error)")
    c.add_argument("path")
    c.set_defaults(fn=cmd_check)
    d = sub.add_parser("db", help="database maintenance")
    dsub = d.add_subparsers(dest="dbcmd", required=True)
    up = dsub.add_parser("upgrade", help="apply migrations")
    up.add_argument("--config", required=True)
    up.set_defaults(fn=cmd_db)
    from webhook.escalation import cli as route_cli
    from webhook.oncall import cli as oncall_cli
    from webhook.replay import cli as replay_cli
    from webhook.report import cli as report_cli
    from webhook.trend import cli as trend_cli
    from webhook.windows import cli as windows_cli

    route_cli.add_commands(sub)
    oncall_cli.add_commands(sub)
    trend_cli.add_commands(sub)
    report_cli.add_commands(sub)
    replay_cli.add_commands(sub)
    windows_cli.add_commands(sub, release=_window_release)
    v = sub.add_parser("version", help="print the version")
    v.set_defaults(fn=lambda _a: print(f"tocsin {__version__}") or 0)
    sub.add_parser("runbook", help="runbook tools: validate, plan, test, schema (see `tocsin runbook -h`)",
                   add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per tick is noise
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # eight "setup plugin" lines per command
    if argv and argv[0] == "runbook":
        return cmd_runbook(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except ConfigError as exc:
        for item in exc.items:
            print(f"error: {item}", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
