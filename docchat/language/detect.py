"""Which language a question is in, and so which lexicon its checks read.

``py3langid`` (a naive Bayes classifier over byte n-grams, 97 languages, its model in the wheel,
no download) names the language when it is sure of it; otherwise the function words of the
languages with rules decide (a lexicon's stop words and negations, the one with the most, if it
has more than any other).  A question placed nowhere ("E1055 alert") takes the language of the
passages it is answered from; when those are placed nowhere either, the checks are the neutral
ones.

Measured with ``bench/language_detection.py`` on 150 messages of 5-25 words from the gettext
catalogues of a Debian system, the same message in English, Dutch, French and German, and on the
194 English questions of the handbook sets: see the README ("Languages").  Below a confidence of
``CONFIDENT`` py3langid is wrong too often on short questions ("Who is Anna de Vries?": Scottish
Gaelic, "Error F17": German); at 0.8 none of the handbook questions is placed in another
language, and 147/150 English, 147/150 Dutch, 150/150 French and 145/150 German messages are
placed right (1 German one is taken for another language, the rest are not placed).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from docchat.language.en import LEXICON as ENGLISH
from docchat.language.fr import LEXICON as FRENCH
from docchat.language.lexicon import NEUTRAL, Lexicon
from docchat.language.nl import LEXICON as DUTCH

__all__ = ["CONFIDENT", "LEXICONS", "Language", "detect", "language_of"]

#: The languages with rules.
LEXICONS: dict[str, Lexicon] = {lex.code: lex for lex in (ENGLISH, DUTCH, FRENCH)}
#: py3langid's normalised probability from which its language is taken.
CONFIDENT = 0.8
#: Characters of the passages read when the question is placed nowhere.
PASSAGE_CHARS = 2000

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_MARKERS = {code: lex.stopwords | lex.negations for code, lex in LEXICONS.items()}
_LOAD = threading.Lock()
_LOADED: list[Any] = []


def _identifier() -> Any:
    # Loaded once, by the first question (about a second: the model is xz-compressed); the lock
    # keeps two first questions from loading it twice.
    with _LOAD:
        if not _LOADED:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _LOADED.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _LOADED[0]


def _classified(text: str) -> tuple[str, float]:
    identifier = _identifier()
    code, probability = identifier.classify(text)
    return str(code), float(probability)


def _by_function_words(text: str) -> str | None:
    found = [w.lower() for w in _WORD.findall(text)]
    counts = sorted(
        ((sum(w in markers for w in found), code) for code, markers in _MARKERS.items()),
        reverse=True,
    )
    (best, code), (second, _) = counts[0], counts[1]
    return code if best > second else None


def detect(text: str) -> str | None:
    """The language of ``text`` (an ISO 639-1 code, with rules or not), or None when unsure."""
    if not _WORD.search(text):
        return None
    code, probability = _classified(text)
    if probability >= CONFIDENT:
        return code
    return _by_function_words(text)


@dataclass(frozen=True, slots=True)
class Language:
    """A turn's language and the lexicon its checks read (``NEUTRAL`` for a language without
    rules, or none found)."""

    code: str | None
    lexicon: Lexicon
    #: Where the language was read: the question, else the passages, else nowhere.
    source: Literal["question", "passages", "none"]

    @property
    def checks(self) -> str:
        """The checks that run: a lexicon's code, or "neutral"."""
        return self.lexicon.code

    def metadata(self) -> dict[str, str | None]:
        """What an answer's metadata says of it."""
        return {"language": self.code, "language_checks": self.checks}


def language_of(question: str, passages: Sequence[str] = ()) -> Language:
    """The question's language; when it is placed nowhere, that of ``passages``."""
    code = detect(question)
    if code is not None:
        return Language(code, LEXICONS.get(code, NEUTRAL), "question")
    text = " ".join(passages)[:PASSAGE_CHARS]
    code = detect(text) if text else None
    if code is not None:
        return Language(code, LEXICONS.get(code, NEUTRAL), "passages")
    return Language(None, NEUTRAL, "none")
