"""GSM 7-bit tables and tolerant decoding (23.038)."""

from __future__ import annotations

from gateway.codec import decode_payload
from gateway.codec.alphabet import (
    DEFAULT_ALPHABET,
    LOCKING_SHIFT,
    SINGLE_SHIFT,
    TABLES,
    decode_septets,
    to_septets,
)


def test_default_table_fixed_points() -> None:
    assert len(DEFAULT_ALPHABET) == 128
    assert DEFAULT_ALPHABET[0x00] == "@"
    assert DEFAULT_ALPHABET[0x02] == "$"
    assert DEFAULT_ALPHABET[0x11] == "_"
    assert DEFAULT_ALPHABET[0x5F] == "§"
    assert DEFAULT_ALPHABET[0x60] == "¿"
    assert DEFAULT_ALPHABET[0x24] == "¤"


def test_extension_characters_take_escape_pairs() -> None:
    assert to_septets("€[]{}\f") == bytes.fromhex("1b65 1b3c 1b3e 1b28 1b29 1b0a")
    assert to_septets("@") == b"\x00"


def test_national_tables_have_full_size_and_spec_points() -> None:
    assert len(LOCKING_SHIFT["tr"]) == 128
    assert len(LOCKING_SHIFT["pt"]) == 128
    assert LOCKING_SHIFT["tr"][0x07] == "ı"  # noqa: RUF001 - Turkish dotless i
    assert LOCKING_SHIFT["tr"][0x40] == "İ"
    assert LOCKING_SHIFT["pt"][0x15] == "∞"
    assert SINGLE_SHIFT["tr"][0x53] == "Ş"
    assert SINGLE_SHIFT["es"][0x09] == "ç"
    assert SINGLE_SHIFT["pt"][0x7F] == "â"


def test_turkish_single_shift_encodes_and_decodes() -> None:
    tables = TABLES[None, "tr"]
    septets = to_septets("şİ€", tables)
    assert septets == bytes.fromhex("1b73 1b49 1b65")
    assert decode_septets(septets, tables) == "şİ€"


def test_portuguese_locking_prefers_one_septet() -> None:
    tables = TABLES["pt", "pt"]
    assert to_septets("€^", tables) == bytes([0x18, 0x16])


def test_unknown_escape_gives_base_character() -> None:
    assert decode_septets(b"\x1b\x41") == "A"


def test_double_escape_and_trailing_escape_give_space() -> None:
    assert decode_septets(b"a\x1b\x1bb") == "a b"
    assert decode_septets(b"ab\x1b") == "ab "


def test_decode_payload_by_dcs_and_national_ids() -> None:
    assert decode_payload(b"\x1b\x73", 0x00, national=(None, 1)) == "ş"
    assert decode_payload(b"\x07", 0x00, national=(1, None)) == "ı"  # noqa: RUF001
    assert decode_payload(b"\x07", 0x00, national=(99, None)) == "ì"
    assert decode_payload("ß😀".encode("utf-16-be"), 0x08) == "ß😀"
    assert decode_payload(b"\xd8\x3d", 0x08) == "\ufffd"
    assert decode_payload(b"\xe9", 0x04) == "é"
    assert decode_payload(b"\xe9", 0x03, smpp=True) == "é"


def test_packed_text_agrees_with_smspdudecoder() -> None:
    from smspdudecoder.codecs import GSM

    from gateway.codec import pack_septets

    text = "Hello @£$ ÄÖÑÜ § ¿¡ €[]{}"
    assert GSM.decode(pack_septets(to_septets(text)).hex()) == text


def test_public_packed_vectors_decode() -> None:
    from gateway.codec import unpack_septets

    assert decode_septets(unpack_septets(bytes.fromhex("C8F71D14969741F977FD07"), 12)) == (
        "How are you?"
    )
    assert decode_septets(unpack_septets(bytes.fromhex("32D0A60C8287E5A0F63B3D07"), 13)) == (
        "2 € par mois"
    )
