"""Memory: the recent turns of a session, and follow-up questions made standalone for search.

Only the last ``memory_turns`` exchanges are read (one indexed query, whatever the session's
length).  A follow-up ("and the second one?") searches badly on its own, so it is rewritten into a
standalone query from the recent turns plus the previous answer's queries and cited passages; the
turn then searches with both the raw question and the rewrite and fuses the results, so a rewrite
that goes wrong cannot lose the plain question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from docchat.chat.markers import without_markers
from docchat.language import Lexicon
from docchat.llm.base import ChatMessage
from docchat.sessions.store import SessionStore
from docchat.sessions.types import Message
from docchat.textsearch import keywords


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


def standalone_query(
    question: str, turns: Sequence[Turn], lexicon: Lexicon, *, with_answer: bool = True
) -> str | None:
    """A search query for a follow-up built without a model: the question plus what the previous
    turn asked, answered and cited ("In what year did that happen?" after "... founded in
    Rotterdam" needs "founded"), or, when that turn found nothing, what it searched for.  None
    when there is no previous turn or no need."""
    if not turns or not looks_like_follow_up(question, lexicon):
        return None
    last = turns[-1]
    if last.answered:
        # Its answer carries the topic on; its own rewrite would drag in older, unrelated turns.
        said = [without_markers(last.answer)] if with_answer else []
        context = [last.question, *said, *last.cited[:2]]
    else:
        context = [last.question, *last.queries[:2]]
    extra = list(dict.fromkeys(w for part in context for w in keywords(part, lexicon.stopwords)))
    return f"{question} {' '.join(extra[:24])}".strip()
