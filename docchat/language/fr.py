"""French: stop words, negation ("ne ... pas", "jamais", "aucun"), number words, bounds and
"the documents do not say" phrases.

No answer-kind cues yet ("à quelle heure", "en quelle année"): a French question gets no kind
check.
"""

from __future__ import annotations

import re

from docchat.language.lexicon import Lexicon, word_list
from docchat.language.stemming import snowball

STOPWORDS = word_list(
    "le la les l un une des du de d et ou mais donc que qu qui quoi quel quelle quels quelles "
    "dont où est sont était étaient être a ont avait avaient avoir fait faire dans sur pour par "
    "avec en au aux ce cet cette ces c se s son sa ses leur leurs il ils elle elles on nous vous "
    "je j tu me m te t lui y mon ma mes ton ta tes notre nos votre vos comment combien quand "
    "pourquoi si peut peuvent doit doivent"
)
_FILLER = word_list(
    "selon indique indiquent dit disent passage passages document documents source sources "
    "politique manuel tous toutes tout toute seulement autre autres chaque très environ"
)
# "ne ... pas": both halves count, as spoken French often drops the "ne".
_NEGATIONS = word_list("ne n pas jamais aucun aucune rien ni sans nul nulle non")
_NEGATING = word_list(
    "sauf excepté exceptés exclu exclus exclue exclues hormis interdit interdits interdite "
    "refusé refusée refusés expire expirent"
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zéro",
            "un",
            "deux",
            "trois",
            "quatre",
            "cinq",
            "six",
            "sept",
            "huit",
            "neuf",
            "dix",
            "onze",
            "douze",
            "treize",
            "quatorze",
            "quinze",
            "seize",
        ]
    )
}
_NUMBER_WORDS |= {"une": 1, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50}
_NUMBER_WORDS |= {"soixante": 60, "cent": 100, "mille": 1000, "douzaine": 12}
_SPAN_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "premier": 1,
    "première": 1,
    "deuxième": 2,
    "second": 2,
    "seconde": 2,
    "troisième": 3,
    "quatrième": 4,
    "cinquième": 5,
    "sixième": 6,
    "septième": 7,
    "huitième": 8,
    "neuvième": 9,
    "dixième": 10,
}

_NOT_FOUND = re.compile(
    # "Les documents ne disent pas ...", "les passages ne contiennent aucune information"
    r"\b(?:documents?|passages?|sources?|contexte|textes?)\b[^.]{0,40}"
    r"\b(?:ne\s|n['\u2019])[^.]{0,40}\b(?:pas|aucune?|rien|nullement)\b"
    # "Cela ne figure pas dans les documents"
    r"|\b(?:ne\s|n['\u2019])[^.]{0,40}\b(?:pas|aucune?|rien)\b[^.]{0,40}"
    r"\bdans (?:les|ces|vos|le) (?:documents?|passages?|sources?|textes?|contexte)\b"
    r"|\baucune (?:information|mention|précision|donnée)\b",
    re.IGNORECASE,
)

_STEM = snowball("french", plural="sx")

LEXICON = Lexicon(
    code="fr",
    stopwords=STOPWORDS,
    filler=_FILLER,
    negations=_NEGATIONS,
    negating=_NEGATIONS | _NEGATING,
    # "ne ... que" is "only"; "pas plus de 20" is "au plus 20"; "non seulement" adds.
    not_negation=re.compile(
        r"\bn(?:e\s|['\u2019])(?:(?!pas\b|jamais\b|rien\b|aucune?\b|plus\b)\w+\s){0,2}?que\b"
        r"|\bpas (?:plus|moins) (?:de|que)\b"
        r"|\bnon seulement\b"
    ),
    clause_words="mais|tandis que|alors que|bien que|cependant|toutefois|pourtant",
    number_words=_NUMBER_WORDS,
    span_number_words=_SPAN_NUMBER_WORDS,
    # "un", "une" are as often "a" as "one".
    pronoun_numbers=word_list("un une"),
    # "vingt-deux", "trente et un", "dix-sept".
    compound_number=re.compile(
        r"\b(dix|vingt|trente|quarante|cinquante|soixante)[- ](?:et[- ])?(\w+)\b"
    ),
    above=(
        r"plus de|plus que|au-delà de|supérieure? à|dépass(?:e|ent|er)|au moins|minimum de|"
        r"au minimum"
    ),
    below=(
        r"moins de|moins que|inférieure? à|au plus|jusqu['\u2019]à|au maximum|maximum de|"
        r"dans un délai de"
    ),
    stem=_STEM,
    singular=_STEM,
    not_found=_NOT_FOUND,
    no_source=re.compile(
        _NOT_FOUND.pattern + r"|\b(?:je )?n['\u2019]ai pas (?:pu )?trouvé\b|\bdésolée?\b"
        r"|\bj['\u2019]espère que cela (?:vous )?aide\b|\bn['\u2019]hésitez pas\b",
        re.IGNORECASE,
    ),
    back_references=word_list("il ils elle elles le la les cela ça ce celui celle ceux celles"),
    follow_up_openers=re.compile(
        r"^\s*(et|mais|aussi|donc|alors|et pour|et si|et comment|pareil pour|pourquoi)\b", re.I
    ),
)
