"""Memory: the recent turns of a session, and follow-up questions made standalone for search.

Only the last ``memory_turns`` exchanges are read (one indexed query, whatever the session's
length).  A follow-up ("and how much memory does it need?") searches badly on its own, so it is
rewritten into a standalone question, as a person would write it, from the previous one; the
turn then searches with both the raw question and the rewrite and fuses the results, so a rewrite
that goes wrong cannot lose the plain question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from docchat.language import Lexicon
from docchat.llm.base import ChatMessage
from docchat.sessions.store import SessionStore
from docchat.sessions.types import Message
from docchat.textsearch import keywords

# The question's subject put in place of "it" is English grammar; other languages get the
# previous question before the follow-up, which needs none.
_DETERMINERS = frozenset({"the", "a", "an", "our", "your", "my"})
_BE = frozenset({"is", "are", "was", "were"})
_AUXILIARIES = _BE | frozenset(
    {"do", "does", "did", "can", "could", "should", "will", "would", "must", "may", "might"}
    | {"has", "have", "had", "shall"}
)
_TOKENS = re.compile(r"[\w'\u2019-]+|[^\w\s]")
_PRONOUN = re.compile(r"\b(?:it|its|they|them|their)\b", re.I)
# "How long does it take to restore?", "is it possible to...": an "it" that stands for the
# "to ..." after it, not for the previous subject.
_PLACEHOLDER_IT = re.compile(r"\bit\b.*\bto\b", re.I)
_BARE_OPENER = re.compile(r"^(?:and|but|also|so|then)\b[\s,]*", re.I)


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange: the question, the answer and what it searched and cited."""

    question: str
    answer: str
    queries: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    #: False when the answer was an abstention (its text is about the search, not the topic).
    answered: bool = True


def recent_turns(
    store: SessionStore, session_id: str, *, before: int, turns: int, owner: str | None
) -> list[Turn]:
    """The last ``turns`` exchanges before position ``before``, oldest first."""
    if turns <= 0:
        return []
    messages = store.messages(session_id, owner=owner, before=before, limit=2 * turns)
    return pair_turns(messages)


def pair_turns(messages: Sequence[Message]) -> list[Turn]:
    """User questions paired with the assistant answers that follow them."""
    found: list[Turn] = []
    question: str | None = None
    for m in messages:
        if m.role == "user":
            question = m.content
        elif m.role == "assistant" and question is not None:
            meta = m.metadata or {}
            if meta.get("status") == "streaming":  # another turn's answer, half written
                question = None
                continue
            queries = [q for q in meta.get("queries", []) if isinstance(q, str)]
            cited = [
                " ".join(str(r.get(k) or "") for k in ("file_name", "section")).strip()
                for r in (m.references or [])
                if isinstance(r, dict)
            ]
            answered = meta.get("abstained") is not True
            found.append(Turn(question, m.content, queries, [c for c in cited if c], answered))
            question = None
    return found


def as_messages(turns: Sequence[Turn]) -> list[ChatMessage]:
    """Turns as prompt messages, oldest first."""
    out: list[ChatMessage] = []
    for t in turns:
        out.append(ChatMessage("user", t.question))
        out.append(ChatMessage("assistant", t.answer))
    return out


def looks_like_follow_up(question: str, lexicon: Lexicon) -> bool:
    """Whether a question probably leans on the conversation ("and the second one?"): few content
    words, or the lexicon's follow-up openers ("and", "what about") or back references ("it")."""
    words = re.findall(r"\w+", question.lower())
    content = keywords(question, lexicon.stopwords)
    return (
        len(content) <= 2
        or bool(lexicon.follow_up_openers.match(question))
        or any(w in lexicon.back_references for w in words)
    )


def standalone_query(question: str, turns: Sequence[Turn], lexicon: Lexicon) -> str | None:
    """A follow-up made standalone without a model, as a person would write it: the previous
    question's subject in place of "it" ("How much memory does the mail archive service
    need?"), or else the previous question before this one.  None when there is no previous
    turn or no need.

    The previous answer lends no words: its keywords made a query no one could read ("... many
    sequential ... require typically 50 e g 7200 rpm"), shown to the user as what was searched.
    """
    if not turns or not looks_like_follow_up(question, lexicon):
        return None
    previous = _standalone(turns[-1])
    subject = subject_of(previous, lexicon) if lexicon.code == "en" else None
    if subject and subject.lower() not in question.lower():
        replaced = _put_subject(question, subject)
        if replaced is not None:
            return replaced
    return f"{previous} {question.strip()}"


def follow_up_terms(question: str, turns: Sequence[Turn], lexicon: Lexicon) -> str | None:
    """The follow-up with the previous question's keywords and cited places added: what an
    answer sentence is scored against besides the question (a "portal" sentence that does not
    say "receipts" again).  Never searched for nor shown.  None as for ``standalone_query``."""
    if not turns or not looks_like_follow_up(question, lexicon):
        return None
    last = turns[-1]
    context = [_standalone(last), *last.cited[:2]] if last.answered else [last.question]
    extra = list(dict.fromkeys(w for part in context for w in keywords(part, lexicon.stopwords)))
    return f"{question} {' '.join(extra[:24])}".strip()


def subject_of(question: str, lexicon: Lexicon) -> str | None:
    """The noun phrase a question is about: the first one opened by "the", "a", "our"…
    ("the mail archive service" in "How much disk space does the mail archive service need?")."""
    tokens = _TOKENS.findall(question)
    lowered = [t.lower() for t in tokens]
    for i, word in enumerate(lowered):
        if word not in _DETERMINERS:
            continue
        end = i + 1
        while end < len(tokens) and _is_content(lowered[end], lexicon):
            end += 1
        phrase = tokens[i + 1 : end]
        at_end = end == len(tokens) or not tokens[end][0].isalnum()
        auxiliary = next((w for w in reversed(lowered[:i]) if w in _AUXILIARIES), None)
        # "does the archive service need?", "was the company founded?": the last word is the
        # verb; "who is the current CEO?" ends on the noun.
        verb_last = auxiliary not in _BE or lowered[end - 1].endswith(("ed", "en"))
        if at_end and auxiliary and len(phrase) > 1 and verb_last:
            phrase = phrase[:-1]
        if phrase:
            determiner = word if i == 0 else tokens[i]
            return " ".join([determiner, *phrase])
    return None


def _standalone(turn: Turn) -> str:
    """The previous turn's question as it was understood: its rewrite when that is a question
    (older sessions kept a bag of keywords there: not reused)."""
    rewrites = [q for q in turn.queries[1:] if q.rstrip().endswith("?")]
    return (rewrites[-1] if rewrites else turn.question).strip()


def _put_subject(question: str, subject: str) -> str | None:
    """``question`` with its "it"/"its"/"they"/"their" replaced by ``subject`` (None: none)."""
    found = [False]

    def swap(match: re.Match[str]) -> str:
        found[0] = True
        return subject + ("'s" if match.group().lower() in ("its", "their") else "")

    if _PLACEHOLDER_IT.search(question):
        return None
    text = _PRONOUN.sub(swap, question.strip())
    if not found[0]:
        return None
    # "And how much memory does the service need?": the opener only tied it to the last turn.
    text = _BARE_OPENER.sub("", text)
    return text[:1].upper() + text[1:]


def _is_content(word: str, lexicon: Lexicon) -> bool:
    return bool(word[:1].isalnum()) and word not in lexicon.stopwords and word not in _AUXILIARIES
