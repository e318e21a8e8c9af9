"""Which replies are stop keywords, and which stop their source."""

from __future__ import annotations

import pytest

from gateway.model.records import InboundMessage
from gateway.store.stoplist import DEFAULT_STOP_WORDS, is_stop, stop_words, stops


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop\n", "\tARRET ", "unsubscribe", "StopAll"])
def test_stop_keywords_in_any_case_trimmed(text: str) -> None:
    assert is_stop(text)


@pytest.mark.parametrize("text", ["", "stop it", "STOP!", "please stop", "S T O P", "STOPP"])
def test_other_texts_are_not_stop_keywords(text: str) -> None:
    assert not is_stop(text)


def test_configured_keywords() -> None:
    words = stop_words([" Fin ", "", "halt"])
    assert words == {"fin", "halt"}
    assert is_stop("FIN", words)
    assert not is_stop("STOP", words)
    assert "stop" in DEFAULT_STOP_WORDS


def _reply(*, account: str | None = "acme", source: str = "+33611111111") -> InboundMessage:
    return InboundMessage(
        id="in-1",
        account=account,
        link="l1",
        source=source,
        destination="36180",
        text="stop",
        received_at=0.0,
    )


def test_a_stop_reply_stops_only_a_number_for_an_owner() -> None:
    assert stops(_reply())
    assert not stops(_reply(account=None))  # to a number nobody owns
    assert not stops(_reply(source="BANK"))  # an alphanumeric source is no number
