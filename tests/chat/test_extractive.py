"""The offline answerer's scoring, on real handbook passages and the real MiniLM embedder."""

from __future__ import annotations

import pytest

from docchat.chat import extractive
from docchat.chat.extractive import extract
from docchat.chat.sentences import split_sentences
from docchat.language.en import LEXICON as EN
from docchat.retrieval.embedders import MiniLMEmbedder
from tests.chat.passages import passages


def test_a_follow_up_is_scored_against_its_standalone_rewrite(minilm: MiniLMEmbedder) -> None:
    hits = passages(
        ("expense-policy.md", "Concur"),
        ("travel-booking.md", "Egencia"),
        ("remote-work.md", "internet allowance"),
    )
    alone = extract("Through which portal?", hits, minilm, lexicon=EN, abstain_below=-1.0)
    rewritten = extract(
        "Through which portal?",
        hits,
        minilm,
        lexicon=EN,
        rephrasings=["Through which portal receipts submitted expense"],
        abstain_below=-1.0,
    )
    assert rewritten.best_score > alone.best_score
    assert "Concur" in rewritten.extracts[0].sentence.text


class Counting:
    """The MiniLM embedder, counting the texts it embeds."""

    def __init__(self, minilm: MiniLMEmbedder) -> None:
        self.minilm = minilm
        self.name, self.dimension = minilm.name, minilm.dimension
        self.embedded = 0

    def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return self.minilm.embed(texts)


def test_only_a_shortlist_is_embedded(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extractive, "EMBED_AT_MOST", 3)
    hits = passages(*[("error-codes.md", f"E10{n}") for n in range(40, 58, 3)])
    sentences = sum(len(split_sentences(h.text)) for h in hits)
    question = "What happens when the connection pool runs out?"
    counting = Counting(minilm)
    found = extract(question, hits, counting, lexicon=EN)
    # The question, 3 sentences and at most the one after the best: not all 24.
    assert sentences >= 20
    assert 1 + 3 <= counting.embedded <= 1 + 3 + 1
    assert not found.abstained
    assert "connection pool" in found.extracts[0].sentence.text

    floor_only = Counting(minilm)
    again = extract(question, hits, floor_only, lexicon=EN, follow_on=False)
    assert floor_only.embedded == 1 + 3
    assert again.best_score == pytest.approx(found.best_score)


def test_the_sentence_after_the_best_one_completes_the_answer(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a shortlist of one, the instruction after "Alert E1055 is raised when ..." is not
    # shortlisted; it is embedded afterwards and joins the answer.
    monkeypatch.setattr(extractive, "EMBED_AT_MOST", 1)
    hits = passages(("error-codes.md", "E1055"))
    counting = Counting(minilm)
    found = extract(
        "What do I do when the monitoring agent loses its connection?", hits, counting, lexicon=EN
    )
    texts = [e.sentence.text for e in found.extracts]
    assert texts[:2] == [
        "Alert E1055 is raised when the monitoring agent lost its connection.",
        "Restart the agent and check the firewall rule.",
    ]
    assert counting.embedded == 1 + 1 + 1


def test_a_sentence_missing_the_asked_code_cannot_answer(minilm: MiniLMEmbedder) -> None:
    hits = passages(("faq-x200.md", "F23"), ("faq-x100.md", "F23"))
    found = extract("What does error F99 mean on the X200?", hits, minilm, lexicon=EN)
    assert found.abstained
    assert found.best_score < extractive.ABSTAIN_BELOW


def test_the_items_asked_for_follow_the_sentence_that_introduces_them(
    minilm: MiniLMEmbedder,
) -> None:
    # The D-Bus README (tests/data/real): the three things are short list items after a colon.
    hits = passages(("dbus-README.txt", "and coordination"))
    found = extract("Which three things does the D-Bus bus daemon do?", hits, minilm, lexicon=EN)
    texts = [e.sentence.text for e in found.extracts]
    assert texts[0].endswith("does things like:")
    assert texts[1:] == [
        "- notify applications when other apps exit",
        "- start services on demand",
        "- support single-instance applications",
    ]


def test_a_question_in_two_parts_gets_a_sentence_for_each(minilm: MiniLMEmbedder) -> None:
    # The startup sentences outscore the one on the simple protocol by far: without parts, the
    # second question went unanswered.
    hits = passages(("avahi-daemon.txt", "Zeroconf"), ("avahi-daemon.txt", "Upon startup"))
    found = extract(
        "Which file does avahi-daemon interpret at startup, and what is the simple protocol "
        "used by?",
        hits,
        minilm,
        lexicon=EN,
    )
    answer = " ".join(e.sentence.text for e in found.extracts)
    assert "interprets its configuration file /etc/avahi/avahi-daemon.conf" in answer
    assert '"simple protocol" which is used exclusively by avahi-dnsconfd' in answer


def test_a_plain_question_still_gets_its_sentence_alone(minilm: MiniLMEmbedder) -> None:
    hits = passages(("dbus-daemon.txt", "systemwide daemon is normally"))
    found = extract("How is the systemwide daemon launched?", hits, minilm, lexicon=EN)
    assert [e.sentence.text for e in found.extracts] == [
        "The systemwide daemon is normally launched by an init script, standardly called simply "
        '"messagebus".'
    ]


def test_a_procedure_is_answered_with_its_steps(minilm: MiniLMEmbedder) -> None:
    # latex-bugs.txt: hard-wrapped plain text, the steps a bulleted list after the best sentence.
    hits = passages(("latex-bugs.txt", "genuine bug"))
    found = extract(
        "How do I report a genuine bug in the core LaTeX software?", hits, minilm, lexicon=EN
    )
    texts = [" ".join(e.sentence.text.split()) for e in found.extracts]
    assert texts[0].endswith("please report it in the following way:")
    assert texts[1].startswith("* Prepare a *short* test file")
    assert texts[2].startswith("* Run this file through latex to obtain the transcript file")


def test_a_table_of_contents_line_is_never_the_answer(minilm: MiniLMEmbedder) -> None:
    # Real PDFs' contents pages share every word of a section title with a question about it:
    # "2.7 Class and package file names . . . 9" says where the answer is, not what it is.
    hit = passages(("error-codes.md", "E1040"))[0]
    contents = hit.model_copy(
        update={
            "rank": 1,
            "text": "Contents\n\n2.6 Defining text and math characters . . . . . . . . 7\n"
            "2.7 Names of class and package files . . . . . . . . . . 9\n"
            "2.8 Loading further packages . . . . . . . . . . . . . . 11",
        }
    )
    rule = hit.model_copy(
        update={
            "rank": 2,
            "text": "Files must be named with care. The file names should contain at most "
            "eight characters (plus the three letter extension).",
        }
    )
    question = "What are the names of class and package files limited to?"
    found = extract(question, [contents, rule], minilm, lexicon=EN, abstain_below=-1.0)
    said = " ".join(e.sentence.text for e in found.extracts)
    assert "eight characters" in said
    assert ". . ." not in said


def test_a_sentence_two_overlapping_passages_hold_is_said_once(minilm: MiniLMEmbedder) -> None:
    # Chunks overlap: the same sentence of the same document reached the answer twice, once
    # from each passage ("… prior to R version 1.2.0 [1]. … prior to R version 1.2.0 [2].").
    text = (
        "The archive is opened on request. Old invoices are kept for seven years in cabinet "
        "K4. The keys are with the office manager."
    )
    hit = passages(("error-codes.md", "E1040"))[0]
    first = hit.model_copy(
        update={"rank": 1, "chunk_id": 101, "char_start": 0, "char_end": 86, "text": text[:86]}
    )
    second = hit.model_copy(
        update={
            "rank": 2,
            "chunk_id": 102,
            "char_start": 34,
            "char_end": len(text),
            "text": text[34:],
        }
    )
    assert "seven years in cabinet K4." in first.text and "seven years" in second.text
    found = extract(
        "How long are old invoices kept?", [first, second], minilm, lexicon=EN, abstain_below=-1.0
    )
    said = [" ".join(e.sentence.text.split()) for e in found.extracts]
    assert said.count("Old invoices are kept for seven years in cabinet K4.") == 1


def test_a_sentence_pointing_back_at_its_heading_brings_it(minilm: MiniLMEmbedder) -> None:
    # A PDF's definition list: the term on a line of its own, then "This is ...".
    text = (
        "System configuration\n\ntexsys.cfg\n\nThis is the only configuration file that must be "
        "present. During installation, if LaTeX cannot find it, a default file is written out."
    )
    hit = passages(("error-codes.md", "E1040"))[0]
    hit = hit.model_copy(update={"rank": 1, "char_end": hit.char_start + len(text), "text": text})
    question = "Which is the only configuration file that must be present in a LaTeX installation?"
    found = extract(question, [hit], minilm, lexicon=EN)
    said = [e.sentence.text for e in found.extracts]
    assert said[:2] == ["texsys.cfg", "This is the only configuration file that must be present."]
    # A sentence that names its own subject brings no heading.
    plain = hit.model_copy(update={"text": text.replace("This is", "The texsys.cfg file is")})
    found = extract(question, [plain], minilm, lexicon=EN)
    assert "texsys.cfg" not in [e.sentence.text for e in found.extracts]


def _as_hit(text: str):  # type: ignore[no-untyped-def]
    hit = passages(("error-codes.md", "E1040"))[0]
    return hit.model_copy(update={"rank": 1, "char_end": hit.char_start + len(text), "text": text})


def test_a_definition_lists_example_line_comes_with_its_entry(minilm: MiniLMEmbedder) -> None:
    # Debian's menu policy as HTML gives it: term, description, "Examples:" line, next term.
    text = (
        "Applications/Education\nEducational and training softwares.\n"
        "Examples: gtypist, gcompris, quiz\nApplications/Emulators\n"
        "Software that allows you to run non-native software or more than one OS at a time.\n"
        "Examples: wine, dosemu, qemu\nApplications/File Management\n"
        "Tools for file management.\nExamples: mc, gentoo"
    )
    question = "In which Debian menu section do programs such as wine, dosemu and qemu belong?"
    found = extract(question, [_as_hit(text)], minilm, lexicon=EN)
    said = [e.sentence.text for e in found.extracts]
    assert not found.abstained
    assert said == [
        "Applications/Emulators",
        "Software that allows you to run non-native software or more than one OS at a time.",
        "Examples: wine, dosemu, qemu",
    ]


def test_a_sentence_going_on_about_a_picked_one_comes_along(minilm: MiniLMEmbedder) -> None:
    text = (
        "The first line of the message body has to include a pseudo-header. It\n"
        "   should say: Package: <packagename>\n\n"
        "Replace <packagename> with the name of the package which has the bug."
    )
    question = "What must the first line of a bug report's message body contain?"
    found = extract(question, [_as_hit(text)], minilm, lexicon=EN)
    said = [" ".join(e.sentence.text.split()) for e in found.extracts]
    assert said[:2] == [
        "The first line of the message body has to include a pseudo-header.",
        "It should say: Package: <packagename>",
    ]
    # Across a blank line nothing goes on.
    apart = text.replace(". It\n", ".\n\nIt\n")
    found = extract(question, [_as_hit(apart)], minilm, lexicon=EN)
    said = [" ".join(e.sentence.text.split()) for e in found.extracts]
    assert said[0] == "The first line of the message body has to include a pseudo-header."
    assert "It should say: Package: <packagename>" not in said
