"""The running daemon's operators' pages, read over HTTP by the CLI (``smsgw link list``
reads ``/links``, ``smsgw esme status`` reads ``/esme``).

The daemon is found at ``--url`` when given, else at the configuration's
``[http] listen`` (a wildcard address read as loopback). Every failure is one
line (a :class:`~gateway.model.errors.UserError`), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any

from gateway.config.daemon import daemon_settings
from gateway.config.file import load_config
from gateway.model.errors import UserError

TIMEOUT = 5.0  # seconds for the daemon's answer


def add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="the daemon's HTTP API, e.g. http://10.0.0.2:8080 (default: [http] listen)",
    )


def daemon_base(args: argparse.Namespace, *, command: str) -> str:
    """``http://host:port`` of the daemon to ask: ``--url``, or the configuration's."""
    url = getattr(args, "url", None)
    if url:
        if not url.startswith(("http://", "https://")):
            msg = f"--url {url!r}: give an http:// or https:// address"
            raise UserError(msg)
        return str(url).rstrip("/")
    settings = daemon_settings(load_config(args.config))
    if settings.http is None:
        msg = f"{command} asks the running daemon over HTTP, and [http] is not configured"
        raise UserError(msg)
    host = settings.http.host
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - compared, not bound
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}"


def read_page(args: argparse.Namespace, path: str, *, command: str) -> tuple[str, dict[str, Any]]:
    """The daemon's base URL and its JSON page at ``path`` (``/links``, ``/esme``)."""
    base = daemon_base(args, command=command)
    url = f"{base}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only
            page = json.load(response)
    except urllib.error.HTTPError as exc:
        msg = f"the daemon at {base} answered {path} with HTTP {exc.code}: is it smsgw?"
        raise UserError(msg) from None
    except (urllib.error.URLError, OSError) as exc:
        msg = f"the daemon does not answer at {url} ({exc}): is `smsgw run` running?"
        raise UserError(msg) from None
    except ValueError:
        msg = f"the daemon at {base} did not answer {path} with JSON: is it smsgw?"
        raise UserError(msg) from None
    if not isinstance(page, dict):
        msg = f"the daemon at {base} did not answer {path} with a JSON object: is it smsgw?"
        raise UserError(msg)
    return base, page


def daemon_line(page: dict[str, Any], base: str) -> str | None:
    """``daemon NAME at URL``: which daemon answered (its ``[dispatcher] worker``)."""
    if "daemon" not in page:
        return None
    return f"daemon {page['daemon']} at {base}"
