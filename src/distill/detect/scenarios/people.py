"""Who ordinary users are: languages, time zones, countries, mail domains, user agents and cards."""

from __future__ import annotations

import numpy as np

LANG_MIX = {"en": 0.55, "es": 0.06, "fr": 0.04, "de": 0.04, "pt": 0.04, "zh": 0.04, "ja": 0.03, "ru": 0.02,
            "it": 0.02, "ko": 0.02, "tr": 0.02, "nl": 0.02, "pl": 0.02, "ar": 0.02, "hi": 0.02, "vi": 0.02,
            "id": 0.02}
TZ = {"en": (-8, -7, -6, -5, -5, -5, 0, 0, 1, 10), "fr": (1,), "de": (1,), "es": (1, -6, -5, -3), "pt": (-3, -3, 0),
      "zh": (8,), "ja": (9,), "ru": (3,), "it": (1,), "ko": (9,), "tr": (3,), "nl": (1,), "pl": (1,),
      "ar": (2, 3, 4), "hi": (5,), "vi": (7,), "id": (7,)}
COUNTRY = {"en": ("US", "US", "US", "GB", "CA", "AU", "IN"), "fr": ("FR", "BE"), "de": ("DE", "AT", "CH"),
           "es": ("ES", "MX", "AR", "CO"), "pt": ("BR", "BR", "PT"), "zh": ("CN", "TW", "SG"), "ja": ("JP",),
           "ru": ("RU", "KZ"), "it": ("IT",), "ko": ("KR",), "tr": ("TR",), "nl": ("NL",), "pl": ("PL",),
           "ar": ("EG", "SA", "AE"), "hi": ("IN",), "vi": ("VN",), "id": ("ID",)}
MAIL = ("gmail.com",) * 9 + ("outlook.com",) * 3 + ("icloud.com",) * 2 + ("yahoo.com", "proton.me", "hotmail.com")
LOCAL_MAIL = {"de": "gmx.de", "fr": "orange.fr", "zh": "qq.com", "ko": "naver.com", "ru": "mail.ru", "it": "libero.it",
              "ja": "yahoo.co.jp", "pl": "wp.pl", "tr": "yandex.com.tr"}
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
)
APPS = ("AtlasChat/3.12.1 (iPhone; iOS 18.1)", "AtlasChat/3.11.0 (Android 14)", "AtlasChat/3.12.0 (Android 15)",
        "AtlasDesktop/1.4.2 (Windows)")
SDKS = ("OpenAI/Python 1.54.3", "OpenAI/Python 1.55.0", "openai-node/4.73.0", "python-requests/2.32.3",
        "python-httpx/0.27.2", "langchain/0.3.7", "curl/8.5.0", "Go-http-client/2.0", "llama-index/0.12.1")
GENERIC_SYSTEM = ("You are a helpful assistant.", "You are a helpful assistant. Answer concisely.",
                  "You are an AI assistant that helps people find information.",
                  "You are a friendly and knowledgeable assistant.", "Answer the user's question accurately.")
BINS = tuple(f"{x:06d}" for x in (414720, 426684, 440066, 453201, 476173, 485932, 510510, 520082, 531106, 542418,
                                  546616, 552433, 601100, 374245, 379763, 491182, 402400, 438857))
PREPAID_BINS = ("535456", "404038", "428837", "489514")  # prepaid and virtual-card issuers


def langs(rng: np.random.Generator, n: int) -> np.ndarray:
    """Languages of ``n`` ordinary users, drawn from ``LANG_MIX`` (55% English).

    Args:
        rng: the scenario's seeded generator.
        n: the number of users.

    Returns:
        (n,) object array of language codes (keys of ``LANG_MIX``).
    """
    keys = list(LANG_MIX)
    p = np.array([LANG_MIX[k] for k in keys])
    return np.array(keys, dtype=object)[rng.choice(len(keys), n, p=p / p.sum())]


def pick(rng: np.random.Generator, options_by_lang: dict, lang: np.ndarray) -> np.ndarray:
    """For each user, one of the options of their language (e.g. a country from ``COUNTRY``).

    Args:
        rng: the scenario's seeded generator.
        options_by_lang: language code → tuple of options; repeats in a tuple weight an option.
        lang: (n,) language codes, each a key of ``options_by_lang``.

    Returns:
        (n,) object array, entry i uniformly one of ``options_by_lang[lang[i]]``.

    Raises:
        KeyError: a language has no options.
    """
    u = rng.integers(0, 1 << 20, len(lang))
    return np.array([options_by_lang[x][i % len(options_by_lang[x])] for x, i in zip(lang, u.tolist(), strict=True)],
                    dtype=object)


def mails(rng: np.random.Generator, lang: np.ndarray) -> np.ndarray:
    """Mail domains: a third of the users of a language with a local provider (``LOCAL_MAIL``) use it,
    the others a global one (``MAIL``: mostly gmail.com).

    Args:
        rng: the scenario's seeded generator.
        lang: (n,) language codes.

    Returns:
        (n,) object array of mail domains.
    """
    u = rng.integers(0, 1 << 20, len(lang))
    return np.array([LOCAL_MAIL[x] if x in LOCAL_MAIL and i % 3 == 0 else MAIL[i % len(MAIL)]
                     for x, i in zip(lang, u.tolist(), strict=True)], dtype=object)


def cards(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` payment-instrument fingerprints: opaque, the same format for everybody.

    Args:
        rng: the scenario's seeded generator.
        n: the number of cards.

    Returns:
        (n,) object array of ``"pm_"`` + 14 hex digits (56 random bits; collisions are improbable, not excluded).
    """
    return np.array([f"pm_{x:014x}" for x in rng.integers(0, 1 << 56, n).tolist()], dtype=object)


def choose(rng: np.random.Generator, options: tuple, n: int, p: np.ndarray | None = None) -> np.ndarray:
    """``n`` independent draws from ``options``.

    Args:
        rng: the scenario's seeded generator.
        options: the values to draw from.
        n: the number of draws.
        p: the probability of each option, summing to 1; None: uniform.

    Returns:
        (n,) object array of options.
    """
    return np.array(options, dtype=object)[rng.choice(len(options), n, p=p)]
