"""``smsgw login create A EMAIL [--role customer|operator] | list | disable EMAIL``:
the web console's logins.

``create`` prints a one-time password once; the store keeps only its scrypt
hash, and the console asks for a new password at its first use.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli.runtime import Context, emit_json, iso, run, table
from gateway.model.logins import Login, LoginRole
from gateway.store.logins import hash_password, new_one_time_password


def login_doc(x: Login) -> dict[str, Any]:
    return {
        "email": x.email,
        "account": x.account,
        "role": x.role.value,
        "must_change": x.must_change,
        "failed_attempts": x.failed_attempts,
        "locked_until": iso(x.locked_until) if x.locked_until is not None else None,
        "disabled": x.disabled,
        "created_at": iso(x.created_at),
    }


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("login", help="web console logins")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = acts.add_parser(
        "create", parents=[common], help="a console login; prints a one-time password"
    )
    c.add_argument("account")
    c.add_argument("email")
    c.add_argument("--role", choices=[r.value for r in LoginRole], default="customer")
    c.set_defaults(handler=_create)
    ls = acts.add_parser("list", parents=[common], help="console logins (never passwords)")
    ls.set_defaults(handler=_list)
    d = acts.add_parser(
        "disable", parents=[common], help="refuse a login from now on (its sessions end)"
    )
    d.add_argument("email")
    d.set_defaults(handler=_disable)


def _create(args: argparse.Namespace) -> int:
    password = new_one_time_password()

    async def work(ctx: Context) -> int:
        hashed = await asyncio.to_thread(hash_password, password)
        login = await ctx.store.create_login(args.account, args.email, LoginRole(args.role), hashed)
        ctx.log.info("login_created", email=login.email, account=login.account, role=args.role)
        if ctx.json:
            emit_json({**login_doc(login), "password": password})
        else:
            print(password)
        return 0

    return run(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        logins = await ctx.store.list_logins()
        if ctx.json:
            emit_json({"logins": [login_doc(x) for x in logins]})
        else:
            table(
                ["email", "account", "role", "state", "created"],
                [(x.email, x.account, x.role.value, _state(x), iso(x.created_at)) for x in logins],
            )
        return 0

    return run(args, work)


def _state(x: Login) -> str:
    if x.disabled:
        return "disabled"
    if x.locked_until is not None:
        return f"locked until {iso(x.locked_until)}"
    return "must change password" if x.must_change else "active"


def _disable(args: argparse.Namespace) -> int:
    async def work(ctx: Context) -> int:
        login = await ctx.store.disable_login(args.email)
        ctx.log.info("login_disabled", email=login.email, account=login.account)
        if ctx.json:
            emit_json(login_doc(login))
        else:
            print(f"disabled login {login.email} of {login.account}")
        return 0

    return run(args, work)
