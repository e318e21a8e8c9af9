"""The console's templates rendered without a browser: what a message page names."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.console.render import environment
from gateway.model.records import MessageView
from gateway.store.admission import new_message
from tests.gateway.store.support import new_message as new_record


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [("gsm7", "1 (GSM 7-bit)"), ("ucs2", "1 (UCS-2)"), ("8bit", "1 (8-bit binary)")],
)
def test_a_message_page_names_its_encoding(encoding: str, shown: str) -> None:
    record = dataclasses.replace(new_record(), encoding=encoding)
    view = MessageView(message=new_message(record, "m1", 0.0, None), segments=())
    html = (
        environment()
        .get_template("message_live.html")
        .render(m=view.message, view=view, root="/console")
    )
    assert f"<dt>SMS</dt><dd>{shown}</dd>" in html
