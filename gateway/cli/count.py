"""``smsgw count TEXT``: encoding, characters, units, segments, remaining."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.codec import analyze
from gateway.codec.plan import normalize_national


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "count",
        parents=[common],
        help="count characters and segments of a text",
        description="Show how a text is encoded: GSM-7 (160 per SMS, extension "
        "characters count double) or UCS-2 (70 per SMS), and how many segments it needs.",
    )
    p.add_argument("text", help="the message text")
    p.add_argument(
        "--national",
        default="",
        metavar="LANGS",
        help="national language tables allowed, comma-separated (tr,es,pt); default none",
    )
    p.add_argument(
        "--concat",
        default="udh8",
        choices=("udh8", "udh16", "sar", "payload"),
        help="how segments are concatenated (changes their size for udh16)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    info = analyze(args.text, national=normalize_national(args.national), concat=args.concat)
    if args.json:
        print(
            json.dumps(
                {
                    "encoding": info.encoding,
                    "characters": info.characters,
                    "units": info.units,
                    "segments": info.segments,
                    "remaining": info.remaining,
                    "per_segment": info.per_segment,
                    "locking_shift": info.locking_shift,
                    "single_shift": info.single_shift,
                }
            )
        )
        return 0
    unit = "septets" if info.encoding == "gsm7" else "UTF-16 units"
    national = (
        ", ".join(
            f"{kind} {code}"
            for kind, code in (("locking", info.locking_shift), ("single", info.single_shift))
            if code is not None
        )
        or "none"
    )
    rows = [
        ("encoding", info.encoding),
        ("characters", str(info.characters)),
        ("units", f"{info.units} {unit}"),
        ("segments", str(info.segments)),
        ("per segment", f"{info.per_segment} {unit}"),
        ("remaining", f"{info.remaining} {unit} in the last segment"),
        ("national tables", national),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
