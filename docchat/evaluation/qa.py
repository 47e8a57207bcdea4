"""The QA file: questions with known sources and answers, one JSON object a line.

One format serves both evaluations (the format is in README, "The QA file"): retrieval
(``docchat.evaluation.retrieval``) reads a question's ``expected`` sources, answer evaluation
(``docchat.evaluation.answers``) its ``answer`` keywords, ``unanswerable`` and ``follow_up_of``.
Its validation lives here, once: a bad line stops the load with an error naming the line.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from docchat.documents.parsers import FORMATS
from docchat.errors import InvalidInput
from docchat.retrieval.hybrid import MAX_QUERY_CHARS, Hit


def normalise(text: str) -> str:
    """``text`` case-folded with every run of whitespace made one space (for ``contains``)."""
    return " ".join(text.split()).casefold()


class Expected(BaseModel):
    """A passage that answers a question: which document, optionally which page and words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document: str = Field(
        min_length=1, description="File name or shell-style glob, matched case-insensitively."
    )
    page: int | None = Field(None, ge=1, strict=True, description="1-based page or slide.")
    contains: str | None = Field(
        None, description="Words the hit's text must contain (case and whitespace ignored)."
    )

    @field_validator("contains")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must contain some non-space characters")
        return value

    def matches_document(self, file_name: str) -> bool:
        """Whether ``file_name`` is this entry's document (equal, or matching its glob)."""
        name, pattern = file_name.casefold(), self.document.casefold()
        # Equality first: a real file name such as "report[1].pdf" is not a glob of itself.
        return name == pattern or fnmatch.fnmatchcase(name, pattern)

    def matches(self, hit: Hit) -> bool:
        """Whether ``hit`` is this passage: every field given agrees."""
        if not self.matches_document(hit.file_name):
            return False
        if self.page is not None and hit.page != self.page:
            return False
        return self.contains is None or normalise(self.contains) in normalise(hit.text)


#: An expected answer keyword or phrase.
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=500)]
#: The exact words of a document that answer a question (whitespace and case aside).
Evidence = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
#: What a question asks for, for per-kind rows: a fact, a number, a paraphrase of the text's words,
#: several facts at once, the steps of a procedure, or something the documents do not say.
Kind = Literal["factoid", "numeric", "paraphrase", "multi-part", "procedure", "unanswerable"]
KINDS: tuple[Kind, ...] = (
    "factoid",
    "numeric",
    "paraphrase",
    "multi-part",
    "procedure",
    "unanswerable",
)
#: Format names by file suffix, as the parsers' modules are named: pdf, html, markdown, text...
FORMAT_BY_SUFFIX = {
    suffix: fmt.parser.partition(":")[0] for fmt in FORMATS for suffix in fmt.suffixes
}
#: What ``follow_up_of`` names: a 1-based line of the QA file, or a question's ``id``.
QuestionRef = (
    Annotated[int, Field(strict=True, ge=1)]
    | Annotated[str, StringConstraints(min_length=1, max_length=100)]
)


class QARecord(BaseModel):
    """One line of a QA file.

    Answerable questions (the default) need ``expected`` sources and may give ``answer`` keywords;
    an ``unanswerable`` one has neither.  ``line`` is set by ``parse_qa``, never read from a line.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(
        None, min_length=1, max_length=100, description="A name for other lines' follow_up_of."
    )
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    type: str = Field(
        "default", min_length=1, max_length=100, description="Group for per-type metrics."
    )
    expected: list[Expected] | None = Field(
        None, description="Any one of these is relevant; required unless unanswerable."
    )
    answer: list[Keyword] | None = Field(
        None,
        min_length=1,
        description="Words or phrases a correct answer contains, every one of them.",
    )
    unanswerable: bool = Field(
        False, strict=True, description="The documents do not answer it: the answer should abstain."
    )
    follow_up_of: QuestionRef | None = Field(
        None, description="The line (1-based) or id of the question it follows in one session."
    )
    evidence: Evidence | list[Evidence] | None = Field(
        None,
        description="The exact words of the document that answer it; a list (each part in one "
        "passage) for a multi-part answer.  Passage-level evidence recall reads it.",
    )
    kind: Kind | None = Field(None, description="What it asks for, for per-kind metrics.")
    format: str | None = Field(
        None,
        min_length=1,
        max_length=20,
        description="The answering document's format (pdf, html, text...), for per-format metrics.",
    )
    paraphrased: bool | None = Field(
        None, strict=True, description="Worded without the evidence's content words."
    )
    split: str | None = Field(
        None, min_length=1, max_length=50, description="Which part of the set (calibration...)."
    )
    line: int | None = Field(None, description="Its line in the QA file (set by parse_qa).")

    @field_validator("question", "type", "id", "format", "split")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must contain some non-space characters")
        return value.strip()

    @field_validator("answer")
    @classmethod
    def _no_blank_keyword(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not k.strip() for k in value):
            raise ValueError("keywords must contain some non-space characters")
        return value

    @field_validator("evidence")
    @classmethod
    def _no_blank_evidence(cls, value: str | list[str] | None) -> str | list[str] | None:
        parts = [value] if isinstance(value, str) else value
        if parts is not None and (not parts or any(not e.strip() for e in parts)):
            raise ValueError("must be some non-space characters, or a non-empty list of them")
        return value

    @model_validator(mode="after")
    def _answerable_or_not(self) -> QARecord:
        # Raised with the key in the message: parse_qa prints a model-level error as it is.
        if self.unanswerable:
            if self.expected:
                raise ValueError("expected: an unanswerable question has no expected sources")
            if self.answer is not None:
                raise ValueError("answer: an unanswerable question has no answer keywords")
            if self.evidence is not None:
                raise ValueError("evidence: an unanswerable question has no evidence")
            if self.kind not in (None, "unanswerable"):
                raise ValueError(f"kind: {self.kind!r}, but the question is unanswerable")
        elif self.kind == "unanswerable":
            raise ValueError("kind: 'unanswerable' needs unanswerable: true")
        elif self.expected is None:
            raise ValueError("expected: Field required (unless unanswerable is true)")
        elif not self.expected:
            raise ValueError(
                "expected: List should have at least 1 item (unless unanswerable is true)"
            )
        return self

    @property
    def sources(self) -> list[Expected]:
        """The expected sources (none for an unanswerable question)."""
        return self.expected or []

    @property
    def evidence_parts(self) -> list[str]:
        """The evidence strings (one unless multi-part): ``evidence``, or else the ``contains``
        of every expected entry that gives one; none for an unanswerable question."""
        if self.evidence is not None:
            return [self.evidence] if isinstance(self.evidence, str) else list(self.evidence)
        return [e.contains for e in self.sources if e.contains is not None]

    def holds_evidence(self, texts: Sequence[tuple[str, str]]) -> bool | None:
        """Whether every evidence part is in one of ``texts`` (file name, passage text) of its
        document, whitespace and case aside; None when the question has no evidence.

        Explicit ``evidence`` may be in any expected document; a ``contains`` taken as evidence
        must be in its own entry's.  A part split across two passages is in neither: the measure
        is of passages that hold it.
        """
        if self.evidence is not None:
            wanted = [(part, self.sources) for part in self.evidence_parts]
        else:
            wanted = [(e.contains, [e]) for e in self.sources if e.contains is not None]
        if not wanted:
            return None
        held = [(name, normalise(text)) for name, text in texts]
        return all(
            any(
                normalise(part) in text
                and (not documents or any(e.matches_document(name) for e in documents))
                for name, text in held
            )
            for part, documents in wanted
        )

    @property
    def document_format(self) -> str | None:
        """``format``, or else the one the expected documents' suffixes name (pdf, html,
        markdown, text...); "mixed" when they name several, None when none is known."""
        if self.format is not None:
            return self.format
        found = {
            FORMAT_BY_SUFFIX.get(PurePosixPath(e.document.casefold()).suffix) for e in self.sources
        }
        found.discard(None)
        if not found:
            return None
        return found.pop() if len(found) == 1 else "mixed"

    @property
    def retrievable(self) -> bool:
        """Whether retrieval evaluation scores it: it has sources and is not a follow-up."""
        return bool(self.expected) and self.follow_up_of is None


def parse_qa(text: str) -> list[QARecord]:
    """The questions of a QA file's text, each with its ``line``; InvalidInput naming the line of
    the first bad one (a follow-up must name an earlier question)."""
    questions: list[QARecord] = []
    by_line: dict[int, QARecord] = {}
    by_id: dict[str, QARecord] = {}
    # Split on newlines only: str.splitlines would also split at U+2028 inside a JSON string.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})", field="qa"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(f"line {number}: expected a JSON object", field="qa")
        if "line" in data:  # the file's own numbering, not a key
            raise InvalidInput(f"line {number}: line: Extra inputs are not permitted", field="qa")
        try:
            question = QARecord.model_validate(data).model_copy(update={"line": number})
        except ValidationError as exc:
            raise InvalidInput(f"line {number}: {_problems(exc)}", field="qa") from None
        problem = _reference_problem(question, by_line, by_id)
        if problem:
            raise InvalidInput(f"line {number}: {problem}", field="qa")
        questions.append(question)
        by_line[number] = question
        if question.id is not None:
            by_id[question.id] = question
    if not questions:
        raise InvalidInput("the QA file holds no questions", field="qa")
    return questions


def _problems(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        if where:
            parts.append(f"{where}: {e['msg']}")
        else:  # a check across keys: its message starts with the key
            parts.append(e["msg"].removeprefix("Value error, "))
    return "; ".join(parts)


def _reference_problem(
    question: QARecord, by_line: dict[int, QARecord], by_id: dict[str, QARecord]
) -> str | None:
    """What is wrong with ``question``'s id or follow_up_of, given the questions before it."""
    if question.id is not None and question.id in by_id:
        return f"id: {question.id!r} is already the id of line {by_id[question.id].line}"
    ref = question.follow_up_of
    if isinstance(ref, int) and ref not in by_line:
        if question.line is not None and ref >= question.line:
            return "follow_up_of: must name an earlier line (the question is asked after it)"
        return f"follow_up_of: line {ref} holds no question"
    if isinstance(ref, str) and ref not in by_id:
        return f"follow_up_of: no earlier question has the id {ref!r}"
    return None


def follow_up_parents(questions: Sequence[QARecord]) -> list[int | None]:
    """For each question, the index in ``questions`` of the question it follows, or None.

    ``follow_up_of`` names a ``line`` (or, for questions built in code without lines, a 1-based
    position) or an ``id``; the question it names must come earlier.
    """
    by_line = {q.line if q.line is not None else i: i for i, q in enumerate(questions, 1)}
    by_id = {q.id: i for i, q in enumerate(questions, 1) if q.id is not None}
    parents: list[int | None] = []
    for index, q in enumerate(questions, 1):
        ref = q.follow_up_of
        if ref is None:
            parents.append(None)
            continue
        parent = by_line.get(ref) if isinstance(ref, int) else by_id.get(ref)
        if parent is None or parent >= index:
            raise InvalidInput(
                f"question {index} follows {ref!r}, which is not an earlier question",
                field="questions",
            )
        parents.append(parent - 1)
    return parents


def load_qa(path: str | Path) -> list[QARecord]:
    """The questions of the QA file at ``path`` (JSON Lines, UTF-8)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read QA file {str(path)!r} ({exc.strerror or 'I/O error'})", field="qa"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"QA file {str(path)!r} is not UTF-8 text", field="qa") from None
    try:
        return parse_qa(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}, {exc.message}", field="qa") from None
