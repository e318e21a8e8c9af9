"""``smsgw run``, ``smsgw check-config`` and ``smsgw link list``: the runtime's own
commands, registered by gateway.runtime.commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from gateway.cli.daemon_pages import add_url_option, daemon_line, read_page
from gateway.config.daemon import daemon_settings
from gateway.config.file import Where, load_config
from gateway.config.smpp_server import SmppServerConfig
from gateway.ops.logs import configure_logging, get_logger
from gateway.runtime.daemon import run_daemon
from gateway.runtime.links import check_links
from gateway.store import check_openable


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon in the foreground",
        description="Run the gateway (systemd Type=notify aware). Stops on "
        "SIGTERM/SIGINT after in-flight submits; SIGHUP reloads links and routes.",
    )
    p.add_argument("--log-level", default=None, help="debug, info, warning, error")
    p.set_defaults(handler=run)
    p = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate the configuration and print what it would run",
    )
    p.set_defaults(handler=check_config)
    p = sub.add_parser("link", parents=[common], help="links of the running daemon")
    link_sub = p.add_subparsers(dest="link_command", metavar="COMMAND", required=True)
    q = link_sub.add_parser("list", parents=[common], help="links, state, window in use")
    add_url_option(q)
    q.set_defaults(handler=link_list)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = daemon_settings(config)
    where = Where.of(config)
    check_links(settings, where=where)  # each problem at its key's line, before starting
    where.raise_problems()
    configure_logging(json=settings.log_json, level=args.log_level or settings.log_level)
    asyncio.run(run_daemon(config, get_logger("smsgw"), log_level=args.log_level))
    return 0


def _describe(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """What the daemon would run, and every problem of the file (empty: none)."""
    where = Where.for_file(args.config)
    config = load_config(args.config, where=where)  # a missing file, bad TOML: fatal
    settings = daemon_settings(config, where=where)
    check_links(settings, where=where)
    if not any("[store] url:" in p for p in where.problems):
        why = check_openable(config.store.url, base=config.base_dir)
        if why is not None:
            where.add(where.error("store", "url", why))
    info = {
        "config": str(config.path),
        "store": config.store.url,
        "http": f"{settings.http.host}:{settings.http.port}" if settings.http else None,
        "mqtt": (f"{settings.mqtt.host}:{settings.mqtt.port} prefix {settings.mqtt.topic_prefix!r}")
        if settings.mqtt
        else None,
        "links": [
            {
                "name": t.name,
                "driver": t.driver,
                "routes": [f"{r.prefix} (weight {r.weight})" for r in t.routes],
            }
            for t in settings.links
        ],
        "smpp_server": _smpp_server(settings.smpp_server),
        "worker": settings.worker,
        "workers": settings.workers,
        "console": settings.console.path if settings.console else None,
    }
    return info, where.problems


def _smpp_server(config: SmppServerConfig | None) -> str | None:
    if config is None:
        return None
    plain = [f"{host}:{port}" for host, port in config.listen]
    tls = [f"{host}:{port} (TLS)" for host, port in config.tls_listen]
    return ", ".join(plain + tls)


def check_config(args: argparse.Namespace) -> int:
    info, problems = _describe(args)
    if problems:
        if args.json:
            print(json.dumps({"config": info["config"], "errors": problems}, indent=2))
        for problem in problems:
            print(f"smsgw: {problem}", file=sys.stderr)
        if len(problems) > 1:
            print(f"smsgw: {len(problems)} problems in {info['config']}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"config  {info['config']}: OK")
    print(f"store   {info['store']}")
    print(f"http    {info['http'] or 'off'}")
    print(f"mqtt    {info['mqtt'] or 'off'}")
    print(f"smpp    {info['smpp_server'] or 'off'} (SMPP server for ESMEs)")
    print(f"console {info['console'] or 'off'}")
    if info["workers"]:
        print(
            f"workers {info['workers']} processes beside the daemon's (HTTP API; the first "
            "also MQTT sends and events)"
        )
    for link in info["links"]:
        print(f"link    {link['name']} ({link['driver']}) routes {', '.join(link['routes'])}")
    if not info["links"]:
        print("link    none: messages will wait in the queue")
    return 0


def link_list(args: argparse.Namespace) -> int:
    base, page = read_page(args, "/links", command="link list")
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    line = daemon_line(page, base)
    if line is not None:
        print(line)
    print(f"{'LINK':<16} {'DRIVER':<6} {'STATE':<10} {'WINDOW':>9} DETAIL")
    for link in page.get("links", []):
        state = "bound" if link["bound"] else ("up" if link["up"] else "down")
        if link.get("throttled"):
            state += "*"
        window = f"{link['in_flight']}/{link['window']}"
        print(f"{link['name']:<16} {link['driver']:<6} {state:<10} {window:>9} {link['detail']}")
    return 0
