"""Recipient benchmark: the ``+digits`` fast parse and a whole recipient check
against phonenumbers itself, in the same run.

Run: .venv/bin/python benchmarks/recipients.py [--numbers N] [--repeat R]

A realistic mix of what senders write: for every region, its example mobile
numbers (most of the mix) and fixed lines with their last digits varied, a
few with the national prefix left after the country code (``+44 07...``),
and a few that are not numbers (too short, unknown country code). Times per
number, best of ``--repeat`` passes over the whole mix:

- ``parse_plus_digits`` against ``phonenumbers.parse("+" + digits)`` (the
  numbers the fast path declines are parsed by phonenumbers in both rows);
- ``check_e164`` (parse, validity, the E.164 form; no cache) against
  ``phonenumbers.parse`` + ``is_valid_number`` + ``format_number``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import phonenumbers

from gateway.ingress.plus_digits import parse_plus_digits
from gateway.ingress.recipients import check_e164

MOBILE = phonenumbers.PhoneNumberType.MOBILE
FIXED = phonenumbers.PhoneNumberType.FIXED_LINE


def mix(count: int, seed: int = 14) -> list[str]:
    """``count`` digit strings (what follows the ``+``), in a fixed random order."""
    rng = random.Random(seed)
    mobiles: list[str] = []
    fixed: list[str] = []
    prefixed: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (metadata.national_prefix if metadata else None) or ""
        for kind, into in ((MOBILE, mobiles), (FIXED, fixed)):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            nsn = phonenumbers.national_significant_number(number)
            into.append(f"{number.country_code}{nsn}")
            if kind is MOBILE and prefix:
                prefixed.append(f"{number.country_code}{prefix}{nsn}")
    junk = ["33", "3361", "999123456", "8001234", "2423"]
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.75:
            digits = rng.choice(mobiles)
        elif roll < 0.92:
            digits = rng.choice(fixed)
        elif roll < 0.97:
            digits = rng.choice(prefixed)
        else:
            out.append(rng.choice(junk))
            continue
        tail = min(3, len(digits) - 4)
        varied = "".join(rng.choice("0123456789") for _ in range(tail))
        out.append(digits[:-tail] + varied)
    return out


def best_per_number(fn: Callable[[str], object], numbers: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for digits in numbers:
            fn(digits)
        best = min(best, time.perf_counter() - start)
    return best / len(numbers)


def library_parse(digits: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None


def fast_parse(digits: str) -> phonenumbers.PhoneNumber | None:
    return parse_plus_digits(digits) or library_parse(digits)


def library_check(digits: str) -> str | None:
    number = library_parse(digits)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def our_check(digits: str) -> str | None:
    return check_e164("+" + digits)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    numbers = mix(args.numbers)
    for digits in numbers:  # warm the metadata and the compiled rules; same answers
        assert fast_parse(digits) == library_parse(digits), digits
        assert our_check(digits) == library_check(digits), digits
    taken = sum(parse_plus_digits(digits) is not None for digits in numbers)
    print(f"{len(numbers)} numbers, {taken / len(numbers):.0%} on the fast path")
    rows = (
        ("parse", library_parse, fast_parse),
        ("check (parse, valid, E.164)", library_check, our_check),
    )
    for name, baseline, ours in rows:
        base = best_per_number(baseline, numbers, args.repeat)
        mine = best_per_number(ours, numbers, args.repeat)
        print(
            f"{name:30} phonenumbers {base * 1e6:6.2f} us  smsgw {mine * 1e6:6.2f} us  "
            f"ratio {base / mine:4.1f}x"
        )


if __name__ == "__main__":
    main()
