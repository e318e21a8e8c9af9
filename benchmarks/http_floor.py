"""aiohttp's own per-request floor: a trivial ``POST /v1/messages`` in its own process.

The handler does what any JSON API does and nothing of smsgw's: read the
body, parse it, answer 202 with a small JSON document. benchmarks/http_single.py
loads it with the same client and connections as the daemon, so the gap
between the two is smsgw's own cost per request. Usage::

    python benchmarks/http_floor.py --port PORT
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web


async def post_message(request: web.Request) -> web.Response:
    doc = json.loads(await request.read())
    body = {"messages": [{"id": "0", "to": doc["to"], "segments": 1, "state": "queued"}]}
    return web.Response(status=202, body=json.dumps(body), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/v1/messages", post_message)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
