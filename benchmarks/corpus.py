"""A deterministic corpus of realistic SMS texts for the codec benchmark."""

# ruff: noqa: RUF001 - Turkish text uses the dotless i on purpose

from __future__ import annotations

import random

OTP = (
    "Your verification code is {code}. It expires in {n} minutes.",
    "{code} is your login code. Do not share it with anyone.",
    "Votre code de confirmation est {code}. Il expire dans {n} minutes.",
    "Tu código de verificación es {code}. Caduca en {n} minutos.",
    "Code: {code}",
    "G-{code} is your Google verification code.",
    "Ihr Bestätigungscode lautet {code}.",
)
EN = (
    "Big summer sale",
    "up to 50% off",
    "on all shoes",
    "this weekend only",
    "free delivery over 30€",
    "use code SUMMER",
    "at checkout",
    "reply STOP to opt out",
    "your order has shipped",
    "track it here: https://ex.co/t/{code}",
    "thanks for shopping",
    "new arrivals in store",
    "members get early access",
    "book your table today",
    "limited stock",
    "don't miss out!",
    "see you soon",
    "[offer valid until Sunday]",
)
FR = (
    "Profitez de -20% sur toute la collection",
    "ce week-end seulement",
    "à partir de 9,99€",
    "livraison gratuite dès 30€",
    "répondez STOP pour ne plus recevoir nos offres",
    "votre colis est arrivé",
    "retrait en magasin",
    "nouveautés de la saison",
    "été",
    "soldes d'hiver",
    "découvrez nos prix",
    "réservez dès maintenant",
    "carte fidélité",
    "offre réservée aux membres",
    "à bientôt",
    "ça vous tente ?",
    "fête des pères",
    "entrée gratuite",
    "dernière chance",
    "très bientôt",
)
ES = (
    "¡Rebajas de verano!",
    "hasta un 50% de descuento",
    "envío gratis desde 30€",
    "sólo este fin de semana",
    "¿Ya conoces nuestra nueva tienda?",
    "responde BAJA para salir",
    "tu pedido está en camino",
    "válido hasta el domingo",
    "mañana abrimos a las 9",
    "niños gratis",
    "oferta única",
    "te esperamos",
    "año nuevo, ofertas nuevas",
)
TR = (
    "Büyük yaz indirimi başladı",
    "tüm ürünlerde %50'ye varan indirim",
    "kargo ücretsiz",
    "siparişiniz yola çıktı",
    "doğrulama kodunuz {code}",
    "hafta sonuna özel fırsatlar",
    "İstanbul mağazamız açıldı",
    "teşekkür ederiz",
    "şimdi alışverişe başla",
    "ağustos ayı boyunca",
)
RU = (
    "Большая летняя распродажа",
    "скидки до 50% на всё",
    "бесплатная доставка от 3000 ₽",
    "ваш заказ отправлен",
    "код подтверждения {code}",
    "только в эти выходные",
    "ждём вас в магазине",
    "спасибо за покупку",
    "новая коллекция уже в продаже",
)
EXT = (  # GSM-7 dense with extension characters (each one an escape pair)
    "{{order: 4711}}",
    "[2 items]",
    "total 19,90€",
    "ref ~{code}",
    "a|b|c",
    "^up^",
    "C:\\temp\\{code}",
    "[{code}]",
    '{{"id": {code}}}',
    "~30€ off",
    "[SALE]",
    "|new|",
)
EMOJI = ("🎉", "🔥", "😍", "👉", "✅", "🚀", "💥", "🛍️", "❤️", "😀", "🎁")


def _fill(rng: random.Random, phrase: str) -> str:
    return phrase.format(code=rng.randrange(100000, 999999), n=rng.choice((5, 10, 15)))


def _sentence(rng: random.Random, words: tuple[str, ...], length: int) -> str:
    parts: list[str] = []
    while sum(len(p) + 2 for p in parts) < length:
        parts.append(_fill(rng, rng.choice(words)))
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + rng.choice((".", "!", " :)", "..."))


def build(seed: int = 2024) -> dict[str, list[str]]:
    """Classes of texts: otp, marketing (en/fr/es, 1-3 segments), extension
    (GSM-7 dense with extension characters), turkish, cyrillic, emoji, long
    (5-10 segments), edge (characters and cut points the baselines get wrong)."""
    rng = random.Random(seed)
    corpus: dict[str, list[str]] = {
        "otp": [_fill(rng, rng.choice(OTP)) for _ in range(3000)],
        "marketing": [
            _sentence(rng, rng.choice((EN, FR, ES)), rng.choice((60, 120, 150, 250, 400)))
            for _ in range(3000)
        ],
        "extension": [_sentence(rng, EXT, rng.choice((60, 120, 200, 320))) for _ in range(1000)],
        "turkish": [_sentence(rng, TR, rng.choice((50, 120, 200))) for _ in range(1000)],
        "cyrillic": [_sentence(rng, RU, rng.choice((50, 120, 200))) for _ in range(1000)],
        "emoji": [],
        "long": [],
        "edge": [],
    }
    for _ in range(1000):
        text = _sentence(rng, rng.choice((EN, FR, ES)), rng.choice((40, 90, 150)))
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(EMOJI) + text[at:]
        corpus["emoji"].append(text)
    for _ in range(1000):
        words = rng.choice((EN, FR, ES, EN, RU))
        corpus["long"].append(_sentence(rng, words, rng.randrange(5, 10) * 150))
    for i in range(500):
        kind = i % 5
        if kind == 0:  # an escape character where a 153-septet cut falls
            corpus["edge"].append("a" * (152 + rng.randrange(3)) + "€" + "b" * 100)
        elif kind == 1:  # an emoji where a 67-unit cut falls
            corpus["edge"].append("я" * (66 + rng.randrange(2)) + "😀" + "я" * 40)
        elif kind == 2:
            corpus["edge"].append(f"Art. {rng.randrange(100)} § 2 of the terms applies.")
        elif kind == 3:
            corpus["edge"].append(f"Page one\fPage two, ref {rng.randrange(1000)}")
        else:
            corpus["edge"].append(f"Use `code{rng.randrange(100)}` at checkout")
    return corpus
