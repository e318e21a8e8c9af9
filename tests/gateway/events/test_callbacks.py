"""Callback URLs: public receivers only, unless the operator allows internal ones."""

from __future__ import annotations

import pytest

from gateway.events.callbacks import CallbackPolicy
from gateway.model.errors import ConfigError, InvalidField

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://localhost/hook", "this machine"),
    ("http://LOCALHOST./hook", "this machine"),
    ("http://api.localhost/hook", "this machine"),
    ("http://0x7f000001/hook", "0x7f000001 (127.0.0.1) is a loopback"),
    ("http://2130706433/hook", "loopback"),
    ("http://127.1/hook", "loopback"),
    ("http://0177.0.0.1/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.9/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1%25eth0]/hook", "link-local"),
    ("http://[fc00::1]/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://100.64.0.1/hook", "not a public address"),  # carrier-grade NAT
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://[::127.0.0.1]/hook", "not a public address"),  # IPv4-compatible
    ("http://[2002:7f00:1::]/hook", "not a public address"),  # 6to4 of 127.0.0.1
    ("http://[64:ff9b::a00:1]/hook", "not a public address"),  # NAT64 of 10.0.0.1
    ("https://user:secret@hooks.example.com/hook", "credentials"),
    ("https://user@hooks.example.com/hook", "credentials"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_non_public_receivers_are_refused_with_one_line(url: str, why: str) -> None:
    with pytest.raises(InvalidField, match="callback_url") as caught:
        CallbackPolicy().check_url(url)
    message = str(caught.value)
    assert why in message
    assert "\n" not in message
    assert caught.value.code == "invalid_value"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/sms",
        "http://8.8.8.8:8080/x",
        "https://[2001:4860:4860::8888]/x",
        "https://hooks.internal/x",  # a name: checked at connect
    ],
)
def test_public_receivers_and_names_pass(url: str) -> None:
    CallbackPolicy().check_url(url)


def test_the_operator_allows_networks_and_host_names() -> None:
    policy = CallbackPolicy.from_config(["10.0.0.0/8", "Hooks.Internal.", "fd00::/8"])
    for url in [
        "http://10.9.8.7/h",
        "http://[::ffff:10.0.0.1]/h",
        "http://[fd00::5]/h",
        "http://hooks.internal/h",
    ]:
        policy.check_url(url)
    for url in ["http://127.0.0.1/h", "http://192.168.0.1/h", "http://localhost/h"]:
        with pytest.raises(InvalidField):
            policy.check_url(url)
    with pytest.raises(InvalidField, match="credentials"):  # not even on an allowed host
        policy.check_url("http://u:p@hooks.internal/h")


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "", 7, "http://x/"])
def test_allow_entries_are_checked(entry: object) -> None:
    with pytest.raises(ConfigError, match=r"\[webhooks\] allow"):
        CallbackPolicy.from_config([entry])
