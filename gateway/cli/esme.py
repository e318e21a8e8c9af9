"""``smsgw esme create A SYSTEM_ID | list [A] | remove A SYSTEM_ID | password A SYSTEM_ID
| status``.

SMPP credentials of an account, for ESMEs that bind to smsgw's SMPP server.
A password is printed once, by ``create`` and ``password``; the store keeps
an scrypt hash of it. ``password`` replaces it: sessions already bound stay,
new binds need the new one. ``remove`` refuses new binds at once; sessions
already bound stay until they unbind. ``status`` asks the running daemon who
is bound now (its ``GET /esme``, as ``smsgw link list`` reads ``/links``).
"""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.daemon_pages import add_url_option, daemon_line, read_page
from gateway.cli.runtime import Context, emit_json, iso, run, table, whole_number
from gateway.model.esme import EsmeCredential
from gateway.store.esme_credentials import MAX_BINDS, MAX_THROUGHPUT


def esme_doc(c: EsmeCredential) -> dict[str, Any]:
    return {
        "account": c.account,
        "system_id": c.system_id,
        "max_binds": c.max_binds,
        "throughput": c.throughput,
        "allow": list(c.allow),
        "options": list(c.options),
        "created_at": iso(c.created_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("esme", help="SMPP credentials of accounts (the SMPP server's binds)")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser(
        "create", parents=[common], help="create a credential; prints its password once"
    )
    c.add_argument("account")
    c.add_argument("system_id", metavar="SYSTEM_ID", help="what the ESME binds with (1-15)")
    c.add_argument("--max-binds", default="1", help="binds open at once (default 1)")
    c.add_argument("--throughput", help="submits a second (default: no limit of its own)")
    c.add_argument(
        "--allow",
        nargs="+",
        default=[],
        metavar="CIDR",
        help="addresses binds may come from (default: any)",
    )
    c.add_argument(
        "--latin1",
        action="store_true",
        help="read data_coding 0 as Latin-1 instead of the GSM 03.38 alphabet",
    )
    c.set_defaults(handler=_create)
    ls = acts.add_parser("list", parents=[common], help="credentials, never their passwords")
    ls.add_argument("account", nargs="?", help="only this account's (default: every account)")
    ls.set_defaults(handler=_list)
    rm = acts.add_parser("remove", parents=[common], help="remove a credential")
    rm.add_argument("account")
    rm.add_argument("system_id", metavar="SYSTEM_ID")
    rm.set_defaults(handler=_remove)
    pw = acts.add_parser(
        "password", parents=[common], help="a new password (printed once); bound sessions stay"
    )
    pw.add_argument("account")
    pw.add_argument("system_id", metavar="SYSTEM_ID")
    pw.set_defaults(handler=_password)
    st = acts.add_parser(
        "status", parents=[common], help="the ESMEs bound now to the running daemon"
    )
    add_url_option(st)
    st.set_defaults(handler=_status)


def _create(args: argparse.Namespace) -> int:
    max_binds = whole_number(args.max_binds, what="--max-binds", low=1, high=MAX_BINDS)
    throughput = (
        None
        if args.throughput is None
        else whole_number(args.throughput, what="--throughput", low=1, high=MAX_THROUGHPUT)
    )

    async def work(ctx: Context) -> int:
        credential, password = await ctx.store.create_esme_credential(
            args.account,
            args.system_id,
            max_binds=max_binds,
            throughput=throughput,
            allow=args.allow,
            options=["latin1"] if args.latin1 else [],
        )
        if ctx.json:
            emit_json({**esme_doc(credential), "password": password})
        else:
            print(password)
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        credentials = await ctx.store.list_esme_credentials(args.account)
        if ctx.json:
            emit_json({"credentials": [esme_doc(c) for c in credentials]})
        else:
            table(
                ["account", "system_id", "max_binds", "throughput", "allow", "created_at"],
                [
                    (
                        c.account,
                        c.system_id,
                        c.max_binds,
                        "-" if c.throughput is None else c.throughput,
                        ",".join(c.allow) or "any",
                        iso(c.created_at),
                    )
                    for c in credentials
                ],
            )
        return 0

    return run(args, work)


def _remove(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        credential = await ctx.store.remove_esme_credential(args.account, args.system_id)
        if ctx.json:
            emit_json({**esme_doc(credential), "removed": True})
        else:
            print(f"removed ESME credential {credential.system_id} of {credential.account}")
        return 0

    return run(args, work)


def _password(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        password = await ctx.store.set_esme_password(args.account, args.system_id)
        if ctx.json:
            emit_json({"account": args.account, "system_id": args.system_id, "password": password})
        else:
            print(password)
        return 0

    return run(args, work)


def _status(args: argparse.Namespace) -> int:
    base, page = read_page(args, "/esme", command="esme status")
    if args.json:
        emit_json(page)
        return 0
    line = daemon_line(page, base)
    if line is not None:
        print(line)
    if not page.get("smpp_server", False):
        print("no SMPP server runs there ([smpp_server] is not configured)")
        return 0
    binds = page.get("binds", [])
    if not binds:
        print("no ESME bound")
        return 0
    table(
        ["system_id", "account", "bind_type", "peer", "tls", "bound_since", "in_flight"],
        [
            (
                b["system_id"],
                b["account"],
                b["bind_type"],
                _address(b["peer"], b.get("peer_port")),
                "yes" if b.get("tls") else "no",
                b["bound_since"],
                b.get("in_flight"),
            )
            for b in binds
        ],
    )
    return 0


def _address(host: str, port: int | None) -> str:
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
