"""Language rules: one ``Lexicon`` per language with rules (English, Dutch, French), the language
of a question, and ``NEUTRAL`` for a question in any other.

Which checks run for which language is a table in the README ("Languages").
"""

from __future__ import annotations

from docchat.language.detect import LEXICONS, Language, detect, language_of
from docchat.language.lexicon import NEUTRAL, AnswerExtent, AnswerKinds, Lexicon

__all__ = [
    "LEXICONS",
    "NEUTRAL",
    "AnswerExtent",
    "AnswerKinds",
    "Language",
    "Lexicon",
    "detect",
    "language_of",
    "lexicon_for",
]


def lexicon_for(code: str | None) -> Lexicon:
    """The lexicon of language ``code``; ``NEUTRAL`` for None or a language without rules."""
    return LEXICONS.get(code or "", NEUTRAL)
