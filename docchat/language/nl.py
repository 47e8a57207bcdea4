"""Dutch: stop words, negation, number words, bounds and "not in the documents" phrases.

No answer-kind cues yet ("hoe laat", "in welk jaar"): a Dutch question gets no kind check.
"""

from __future__ import annotations

import re

from docchat.language.lexicon import Lexicon, word_list
from docchat.language.stemming import snowball

STOPWORDS = word_list(
    "de het een en van in op aan met als voor bij om te tot uit naar door over onder dan dat die "
    "dit deze wat wie waar wanneer hoe waarom welk welke is zijn was waren wordt worden werd ben "
    "bent heb hebt heeft hebben had hadden kan kunnen kon moet moeten mag mogen zal zullen zou "
    "zouden wil ik je jij u hij zij ze we wij mij me mijn jouw uw haar ons onze hun hem er of "
    "maar ook nog al zo dus toch want omdat"
)
_FILLER = word_list(
    "volgens staat stelt zegt gezegd vermeld passage passages document documenten bron bronnen "
    "beleid handboek alle alleen andere ander elk elke iedere ieder ongeveer na zeer heel"
)
_NEGATIONS = word_list("niet geen nooit niemand niets nergens noch zonder")
_NEGATING = word_list(
    "behalve uitgezonderd uitgesloten tenzij verboden vervalt vervallen geweigerd afgewezen"
)
_UNITS = ["een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen"]
_TENS = ["twintig", "dertig", "veertig", "vijftig", "zestig", "zeventig", "tachtig", "negentig"]
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "nul",
            "een",
            "twee",
            "drie",
            "vier",
            "vijf",
            "zes",
            "zeven",
            "acht",
            "negen",
            "tien",
            "elf",
            "twaalf",
            "dertien",
            "veertien",
            "vijftien",
            "zestien",
            "zeventien",
            "achttien",
            "negentien",
        ]
    )
}
_NUMBER_WORDS |= {w: 10 * i for i, w in enumerate(_TENS, 2)}
# Dutch writes 21-99 as one word, units first: "vijfentwintig", "tweeëntwintig".
for _t, _tens in enumerate(_TENS, 2):
    for _u, _unit in enumerate(_UNITS, 1):
        _NUMBER_WORDS[f"{_unit}{'ën' if _unit.endswith('e') else 'en'}{_tens}"] = 10 * _t + _u
        _NUMBER_WORDS[f"{_unit}en{_tens}"] = 10 * _t + _u
_NUMBER_WORDS |= {"honderd": 100, "duizend": 1000, "dozijn": 12, "tweemaal": 2}
_SPAN_NUMBER_WORDS = {
    "een": 1,
    "eenmaal": 1,
    "eerste": 1,
    "tweede": 2,
    "derde": 3,
    "vierde": 4,
    "vijfde": 5,
    "zesde": 6,
    "zevende": 7,
    "achtste": 8,
    "negende": 9,
    "tiende": 10,
}

_NOT_FOUND = re.compile(
    # "De documenten vermelden dit niet", "de passages bevatten geen informatie over ..."
    r"\b(?:documenten|document|passages?|bronnen|bron|context|teksten|tekst)\b[^.]{0,40}"
    r"\b(?:vermelden|vermeldt|zeggen|zegt|bevatten|bevat|noemen|noemt|geven|geeft|beschrijven|"
    r"beschrijft|beantwoorden|beantwoordt|melden|meldt|staat|staan)\b[^.]{0,40}"
    r"\b(?:niet|geen|niets)\b"
    # "Dat staat niet in de documenten", "ik kan geen antwoord vinden in de passages"
    r"|\b(?:niet|geen|niets)\b[^.]{0,40}\b(?:in|uit) (?:de|deze|uw|je) "
    r"(?:documenten|passages|bronnen|tekst|teksten|context)\b"
    r"|\bgeen (?:informatie|vermelding|gegevens) (?:over|van|in)\b",
    re.IGNORECASE,
)

# The Porter variant: Snowball's newer Dutch stemmer keeps "dagen" ("daag") apart from "dag".
_STEM = snowball("dutch_porter", verb="t")

LEXICON = Lexicon(
    code="nl",
    stopwords=STOPWORDS,
    filler=_FILLER,
    negations=_NEGATIONS,
    negating=_NEGATIONS | _NEGATING,
    # "niet meer dan 20" is "hoogstens 20"; "niet alleen" adds.
    not_negation=re.compile(
        r"\b(?:niet|geen) (?:meer|minder|later|eerder|langer|korter) dan\b|\bniet alleen\b"
    ),
    clause_words="maar|terwijl|hoewel|ofschoon|echter",
    number_words=_NUMBER_WORDS,
    span_number_words=_SPAN_NUMBER_WORDS,
    # "een" is as often "a" as "one".
    pronoun_numbers=word_list("een"),
    above=(
        r"meer dan|boven|langer dan|groter dan|hoger dan|minstens|ten minste|minimaal|"
        r"overschrijdt|overschrijden"
    ),
    below=(
        r"minder dan|onder|korter dan|kleiner dan|lager dan|hoogstens|ten hoogste|maximaal|"
        r"tot|binnen"
    ),
    stem=_STEM,
    singular=_STEM,
    not_found=_NOT_FOUND,
    no_source=re.compile(
        _NOT_FOUND.pattern
        + r"|\b(?:kon|kan|konden|kunnen)\b[^.]{0,30}\b(?:niet|geen)\b[^.]{0,30}\bvinden\b"
        r"|\b(?:het|dit) spijt me\b|\bhoop dat (?:dit|dat) helpt\b|\blaat (?:het )?me weten\b",
        re.IGNORECASE,
    ),
    back_references=word_list("het dat die dit deze ze zij hij hem haar hun"),
    follow_up_openers=re.compile(
        r"^\s*(en|maar|ook|dus|dan|wat dacht je van|en wat|en hoe|hetzelfde voor|waarom)\b",
        re.I,
    ),
)
