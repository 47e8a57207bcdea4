"""How much text a question asks for: one sentence, a run of them, or one for each of its parts.

"What encoding did Excel expect?" is answered by one sentence.  "How do I report a bug?" asks for
the steps, which follow the sentence that best matches the question ("... please report it in the
following way:" and then the steps); "What are the four things every class file must contain?"
and "Which two ...?" for the items listed after it; "Why ...?" for the reason, which often fills
the sentence after the one naming the thing.  "Where is CRAN's main site, and how often is it
mirrored?" asks two questions, each answered by its own sentence.

The cues are the question language's (``Lexicon.answer_extent``); a language without them gets
one sentence and what scores close to it, as every question did before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docchat.language import Lexicon
from docchat.textsearch import words

#: Further sentences a run may take after the best one, by what the question asks for.
PROCEDURE_RUN = 4
LIST_RUN = 6
PLURAL_RUN = 2
REASON_RUN = 2

# "two-word label" is a compound, not a count of what is asked.
_COMPOUND = re.compile(r"\b\w+-\w+")


@dataclass(frozen=True, slots=True)
class Extent:
    """What an answer to a question holds: ``run`` further sentences after the best one (0: just
    the best, as for a plain factoid), and the question's ``parts`` when it asks more than one
    thing (each gets its own sentence)."""

    run: int = 0
    parts: tuple[str, ...] = ()


def extent_of(question: str, lexicon: Lexicon) -> Extent:
    """How much of the passages an answer to ``question`` takes."""
    cues = lexicon.answer_extent
    if cues is None:
        return Extent()
    pieces = (p.strip(" ,;?") for p in cues.second_question.split(question))
    parts = tuple(p for p in pieces if p)
    text = " ".join(words(question))
    run = 0
    if counted := _counted(question, lexicon):
        run = min(counted - 1, LIST_RUN)
    elif cues.listing.search(text):
        run = LIST_RUN
    elif cues.plural.search(text):
        run = PLURAL_RUN
    elif cues.procedure.search(text):
        run = PROCEDURE_RUN
    elif cues.reason.search(text):
        run = REASON_RUN
    return Extent(run, parts if len(parts) > 1 else ())


def _counted(question: str, lexicon: Lexicon) -> int:
    """The number of items asked for: "which two ...", "the four things ...", "both"."""
    cues = lexicon.answer_extent
    assert cues is not None
    found = words(_COMPOUND.sub(" ", question))
    for i, word in enumerate(found):
        number = cues.counts.get(word) or (int(word) if word.isdigit() and len(word) == 1 else 0)
        if number >= 2 and (i == 0 or found[i - 1] in cues.count_after or word == "both"):
            return number
    return 0


def asks_each(question: str, lexicon: Lexicon) -> bool:
    """Whether ``question`` asks about every document in turn: "What does each of the services
    do?", "Which documents say how to report a bug?"."""
    cues = lexicon.answer_extent
    return cues is not None and cues.each_document.search(question) is not None


def each_named(question: str, name: str, lexicon: Lexicon) -> str:
    """``question`` asked of one document: "What does each of the services do?" of
    avahi-daemon.txt is "What does avahi-daemon do?"."""
    cues = lexicon.answer_extent
    return question if cues is None else cues.each_document.sub(name, question)
