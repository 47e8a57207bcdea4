"""English: every rule the checks had before there were lexicons, word for word."""

from __future__ import annotations

import re

from docchat.language.lexicon import AnswerExtent, AnswerKinds, Lexicon, word_list

# Words so common that OR-ing them into a query matches nearly every row: costly, and no signal.
STOPWORDS = word_list(
    "a an and are as at be but by can could did do does for from had has have how i if in into is "
    "it its me my of on or our should so than that the their them then there these they this to "
    "was we were what when where which who whom why will with would you your"
)

_FILLER = word_list(
    "about above after again all also am any because been before being below between both "
    "each few further he her here hers him his just may might more most much must need needs "
    "only other ours out over own per same she some such up very us via while within yes "
    "according says say said stated states passage passages document documents source sources "
    "policy handbook"
)
_NEGATIONS = word_list("not no never none nobody nothing nowhere neither nor cannot without")
# Words a span can negate with, so "not reimbursed" still agrees with "alcohol excluded".
_NEGATING = word_list(
    "except excluded excluding exclude unless forbidden prohibited forfeited expire expires "
    "denied refused rather instead"
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS |= {
    w: 10 * i
    for i, w in enumerate(["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 3)
}
_NUMBER_WORDS |= {"hundred": 100, "thousand": 1000, "dozen": 12, "twice": 2}
# Words that count as a number only where a span states them: a sentence's "one" or "once" is
# as often a pronoun or "as soon as" ("on day one" / "the first day" still agree).
_SPAN_NUMBER_WORDS = {
    "one": 1,
    "once": 1,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}


def stem(word: str) -> str:
    """A few English suffix rules, enough for "reimbursed"/"reimburses", "days"/"day",
    "submitted"/"submit", "policies"/"policy"; not a real stemmer."""
    for suffix, replacement in (
        ("sses", "ss"),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)] + replacement
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def singular(word: str) -> str:
    """``word`` with a plural ending taken off: "days"/"day", "policies"/"policy", "résumés";
    enough to match a question's words to a passage's, not a real stemmer."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


#: Nouns whose value is written in digits ("what is the price of ...", "which TCP port ...").
_VALUE_NOUNS = (
    "price|cost|fee|rate|number|amount|size|length|duration|limit|maximum|minimum|percentage|"
    "budget|capacity|level|port|version|timeout"
)

_ANSWER_KINDS = AnswerKinds(
    asks_clock=re.compile(r"\b(?:what|which) time (?P<aux>\w+)"),
    asks_year=re.compile(r"\b(?:what|which) year (?P<aux>\w+)"),
    asks_how=re.compile(r"\bhow (many|much|long|often|frequently|far)\b"),
    takes_phrase=word_list("many much"),
    # "What is the default time limit ...", "Which TCP port ...", "Which R version ...": values
    # written in digits.
    asks_amount=re.compile(
        rf"\b(?:what|which) (?:(?:is|are|was|were) the (?:\w+ ){{0,2}}(?:{_VALUE_NOUNS})s?"
        rf"|(?:\w+ ){{0,2}}(?:{_VALUE_NOUNS}))\b"
    ),
    phrase_ends=word_list(
        "do does did is are was were be been can could will would should must may might shall "
        "has have had of per in on at for with to from before after during within by about"
    ),
    amount_words=word_list(
        "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty "
        "forty fifty sixty hundred thousand million once twice half quarter dozen double "
        # frequencies
        "every each daily weekly monthly yearly annually quarterly hourly nightly always never"
    ),
    do=word_list("do does did"),
    be=word_list("is are was were"),
    participles=word_list("built held kept made paid sent sold shut set"),
    pro_verbs=word_list("happen occur do take place be go come"),
    clock=re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?[ap]\.?m\b|\bnoon\b|\bmidnight\b|o'clock"),
)

_ANSWER_EXTENT = AnswerExtent(
    procedure=re.compile(
        r"^(?:how (?:do|can|could|should|must|would) (?:i|you|we|one)\b|how to\b)"
        r"|\b(?:steps?|procedure|instructions?|process for)\b"
        r"|\bwhat (?:should|must|do) (?:i|you|we) do\b"
    ),
    listing=re.compile(
        r"^(?:list|name|enumerate)\b"
        r"|\b(?:what|which) (?:kinds?|types?|sorts?|ways?|options|things)\b"
    ),
    plural=re.compile(r"^(?:what|which) (?:are|were) (?:the|all)\b"),
    reason=re.compile(r"^why\b|\b(?:reasons?|what causes|how come)\b"),
    counts={"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "both": 2},
    count_after=word_list("which what the are name list"),
    second_question=re.compile(
        r"(?:,\s*and|;)\s+(?=(?:what|which|who|whom|whose|where|when|why|how|is|are|was|were|"
        r"do|does|did|can|could|may|might|must|should|will|would|has|have)\b)",
        re.IGNORECASE,
    ),
    each_document=re.compile(
        r"\beach(?: one)?(?: of (?:the|these|those|them|its|their|your|my|our)(?: \w+)?)?"
        r"(?: \w+(?=\s+(?:do|does|say|says|cover|covers|describe|describes)\b))?"
        r"|\bevery (?:one|document|file)\b"
        r"|\b(?:which|what) (?:documents?|files?|sources?|manuals?|guides?)\b",
        re.IGNORECASE,
    ),
)

LEXICON = Lexicon(
    code="en",
    stopwords=STOPWORDS,
    filler=_FILLER,
    negations=_NEGATIONS,
    negating=_NEGATIONS | _NEGATING,
    contracted_negation=re.compile(r"\w+n[\u2019']t\b|\bcannot\b"),
    # Not negations: "no more than 20 percent" is "at most 20 percent".
    not_negation=re.compile(
        r"\b(?:no|not) (?:more|less|fewer|later|earlier|longer|sooner) than\b|\bnot only\b"
    ),
    clause_words="but|while|whereas|although|though|however",
    number_words=_NUMBER_WORDS,
    span_number_words=_SPAN_NUMBER_WORDS,
    pronoun_numbers=word_list("one"),
    compound_number=re.compile(
        r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[- ](\w+)\b"
    ),
    above=r"over|above|more than|longer than|greater than|exceed(?:s|ed|ing)?|at least|minimum of",
    below=r"under|below|less than|fewer than|shorter than|at most|up to|maximum of|within",
    stem=stem,
    singular=singular,
    # What a model says when the passages do not answer (as the answer prompt asks it to).
    not_found=re.compile(
        r"\b(documents?|passages?|context|sources?)\b[^.]{0,40}\b(do(es)?\s*n[o']t|not|no)\b"
        r"[^.]{0,40}\b(say|contain|mention|answer|include|provide|information)",
        re.IGNORECASE,
    ),
    no_source=re.compile(
        r"\b(?:could|can|did|do|was|were)(?:\s*not|n[\'\u2019]t) (?:find|locate|answer|determine)\b"
        r"|\b(?:cannot|unable to) (?:find|locate|answer|determine)\b"
        r"|\b(?:documents?|passages?|sources?|context|files?) "
        r"(?:do|does|did)(?:\s*not|n[\'\u2019]t)\b"
        r"|\bnot (?:mentioned|covered|stated|specified|addressed) in (?:the|your|these|any)\b"
        r"|\bno (?:information|mention|details?) (?:about|on|of|regarding)\b"
        r"|\b(?:I'm|I am) sorry\b|\blet me know\b|\bhope (?:this|that) helps\b|\bfeel free\b",
        re.IGNORECASE,
    ),
    # Possessives and ordinals ("its door", "their first day", "one of my passwords") mostly
    # point inside the question itself: left out.
    back_references=word_list("it they them that those this these he she him former latter"),
    follow_up_openers=re.compile(
        r"^\s*(and|but|also|so|then|what about|how about|and what|and how|same for|why)\b", re.I
    ),
    answer_kinds=_ANSWER_KINDS,
    answer_extent=_ANSWER_EXTENT,
)
