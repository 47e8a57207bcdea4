"""A generated English corpus for the retrieval benchmark: text PDFs, chunks, facts and queries.

Everything comes from a seeded ``random.Random``, so two runs make the same bytes.  Text is built
from sentence templates over per-topic vocabularies (twelve topics, roughly the documents a company
keeps), with word choice skewed towards a few frequent words, as in real prose; full-text indexes
therefore see realistic term frequencies.  Every page (and every synthetic chunk) states one fact
about a uniquely coded item ("The pump HX-4471 has a maximum pressure of 38 bar."), so a query can
name a known target.

PDFs are written by hand (about 60 lines of PDF syntax: Helvetica, one compressed content stream per
page), as simple report generators write them; no PDF library is needed.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
import re
import textwrap
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from docchat.documents.tokens import tokenizer_path
from docchat.documents.types import Chunk, ParsedDocument, TextUnit

# -- vocabulary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """The words one kind of document uses, and the facts it states."""

    name: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]  # base form: "inspect"
    done: tuple[str, ...]  # past participle: "inspected"
    adjectives: tuple[str, ...]
    docs: tuple[str, ...]
    #: (attribute, unit, low, high) for fact sentences
    attributes: tuple[tuple[str, str, int, int], ...]


def _t(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


def _attrs(text: str) -> tuple[tuple[str, str, int, int], ...]:
    # "attribute:unit:low:high;..."
    out = []
    for item in text.split(";"):
        attribute, unit, low, high = item.split(":")
        out.append((attribute, unit, int(low), int(high)))
    return tuple(out)


TOPICS = (
    Topic(
        "maintenance",
        _t(
            "pump,valve,compressor,bearing,filter,gasket,seal,motor,gearbox,conveyor,boiler,"
            "hydraulic line,pressure gauge,drive belt,coolant tank,control panel,spare part,"
            "work order,lubricant,inspection report"
        ),
        _t("inspect,replace,calibrate,flush,lubricate,tighten,service,repair"),
        _t("inspected,replaced,calibrated,flushed,lubricated,tightened,serviced,repaired"),
        _t("worn,corroded,spare,primary,secondary,high-pressure,rotating,sealed"),
        _t("maintenance manual,service bulletin,inspection checklist,equipment handbook"),
        _attrs(
            "maximum pressure:bar:6:90;service interval:hours:250:4000;"
            "rated power:kW:2:250;operating temperature:degrees Celsius:40:180"
        ),
    ),
    Topic(
        "finance",
        _t(
            "invoice,budget,forecast,ledger,expense claim,purchase order,revenue,margin,"
            "cash flow,audit,accrual,payment term,cost centre,balance sheet,depreciation,"
            "vendor,reimbursement,tax return,quarterly result,capital expenditure"
        ),
        _t("approve,reconcile,submit,forecast,allocate,report,audit,settle"),
        _t("approved,reconciled,submitted,forecast,allocated,reported,audited,settled"),
        _t("quarterly,annual,overdue,deferred,consolidated,operating,net,gross"),
        _t("annual report,finance policy,budget guideline,procurement handbook"),
        _attrs(
            "approval limit:euros:500:250000;payment term:days:14:120;"
            "budget:thousand euros:20:9000;growth target:percent:2:40"
        ),
    ),
    Topic(
        "people",
        _t(
            "employee,manager,contract,leave request,onboarding,mentor,salary review,"
            "performance review,training course,probation period,job description,benefit,"
            "pension plan,team lead,recruiter,candidate,timesheet,holiday,sick note,promotion"
        ),
        _t("hire,train,review,promote,onboard,mentor,interview,approve"),
        _t("hired,trained,reviewed,promoted,onboarded,mentored,interviewed,approved"),
        _t("new,permanent,temporary,part-time,remote,senior,junior,annual"),
        _t("employee handbook,onboarding guide,HR policy,code of conduct"),
        _attrs(
            "notice period:weeks:1:26;annual leave allowance:days:20:35;"
            "training budget:euros:300:6000;probation period:months:1:12"
        ),
    ),
    Topic(
        "legal",
        _t(
            "agreement,clause,liability,warranty,indemnity,termination,licence,"
            "confidentiality,jurisdiction,amendment,signatory,obligation,breach,dispute,"
            "arbitration,renewal,notice,schedule,counterparty,intellectual property"
        ),
        _t("terminate,amend,sign,renew,enforce,waive,negotiate,review"),
        _t("terminated,amended,signed,renewed,enforced,waived,negotiated,reviewed"),
        _t("binding,exclusive,mutual,written,material,limited,perpetual,governing"),
        _t("service agreement,master contract,licence terms,privacy policy"),
        _attrs(
            "liability cap:thousand euros:50:5000;warranty period:months:6:60;"
            "cure period:days:5:90;renewal term:years:1:10"
        ),
    ),
    Topic(
        "security",
        _t(
            "password,firewall,laptop,server,backup,access token,vulnerability,patch,"
            "certificate,account,incident,phishing email,encryption key,log file,"
            "network segment,VPN connection,admin role,audit trail,endpoint,database"
        ),
        _t("rotate,patch,encrypt,revoke,monitor,restore,block,escalate"),
        _t("rotated,patched,encrypted,revoked,monitored,restored,blocked,escalated"),
        _t("critical,privileged,compromised,encrypted,shared,expired,internal,external"),
        _t("security policy,incident runbook,IT handbook,access control standard"),
        _attrs(
            "retention period:days:7:730;maximum session length:minutes:5:480;"
            "key length:bits:128:4096;recovery time objective:hours:1:72"
        ),
    ),
    Topic(
        "support",
        _t(
            "customer,ticket,complaint,refund,return,delivery,order,subscription,"
            "feature request,bug report,helpdesk,response time,satisfaction score,"
            "knowledge article,escalation,chat transcript,account manager,invoice copy,"
            "replacement unit,service level"
        ),
        _t("resolve,escalate,refund,reply,close,reopen,assign,follow up"),
        _t("resolved,escalated,refunded,answered,closed,reopened,assigned,followed up"),
        _t("urgent,open,pending,premium,standard,repeated,first,late"),
        _t("support playbook,service level agreement,customer guide,FAQ"),
        _attrs(
            "first response time:hours:1:48;refund limit:euros:20:2000;"
            "resolution target:days:1:30;satisfaction goal:percent:70:99"
        ),
    ),
    Topic(
        "safety",
        _t(
            "helmet,glove,eye protection,solvent,spill,evacuation route,fire extinguisher,"
            "first aid kit,hazard,near miss,risk assessment,ladder,forklift,noise level,"
            "chemical,permit,lockout,safety data sheet,ventilation,incident report"
        ),
        _t("wear,store,label,report,evacuate,inspect,assess,isolate"),
        _t("worn,stored,labelled,reported,evacuated,inspected,assessed,isolated"),
        _t("flammable,toxic,hazardous,mandatory,protective,emergency,confined,slippery"),
        _t("safety manual,health and safety policy,site induction,emergency plan"),
        _attrs(
            "exposure limit:ppm:1:500;inspection interval:days:7:365;"
            "maximum load:kilograms:50:5000;noise limit:decibels:70:95"
        ),
    ),
    Topic(
        "logistics",
        _t(
            "shipment,pallet,warehouse,carrier,container,customs declaration,stock level,"
            "delivery note,freight,route,inventory,supplier,lead time,dock,barcode,"
            "picking list,courier,tracking number,loading bay,backorder"
        ),
        _t("ship,pick,pack,track,load,receive,count,dispatch"),
        _t("shipped,picked,packed,tracked,loaded,received,counted,dispatched"),
        _t("inbound,outbound,damaged,express,bulk,refrigerated,delayed,partial"),
        _t("logistics handbook,warehouse procedure,shipping guideline,supplier manual"),
        _attrs(
            "lead time:days:1:90;pallet weight limit:kilograms:200:1500;"
            "storage temperature:degrees Celsius:-25:25;reorder point:units:10:5000"
        ),
    ),
    Topic(
        "research",
        _t(
            "sample,experiment,protocol,measurement,dataset,hypothesis,instrument,reagent,"
            "control group,result,lab notebook,centrifuge,microscope,assay,calibration curve,"
            "publication,peer review,replicate,batch,analysis"
        ),
        _t("measure,analyse,replicate,record,publish,validate,prepare,store"),
        _t("measured,analysed,replicated,recorded,published,validated,prepared,stored"),
        _t("preliminary,statistical,negative,blind,randomised,frozen,diluted,independent"),
        _t("lab protocol,study report,research plan,method description"),
        _attrs(
            "sample size:participants:12:4000;incubation time:hours:1:96;"
            "detection limit:nanograms per millilitre:1:500;shelf life:months:1:48"
        ),
    ),
    Topic(
        "sales",
        _t(
            "campaign,lead,prospect,quote,discount,pipeline,territory,commission,"
            "trade show,brochure,webinar,conversion rate,price list,partner,newsletter,"
            "market share,product launch,demo,account plan,renewal offer"
        ),
        _t("launch,qualify,quote,close,promote,target,negotiate,forecast"),
        _t("launched,qualified,quoted,closed,promoted,targeted,negotiated,forecast"),
        _t("regional,strategic,qualified,seasonal,digital,enterprise,loyal,new"),
        _t("sales playbook,marketing plan,pricing guide,partner programme"),
        _attrs(
            "maximum discount:percent:5:45;quota:thousand euros:100:5000;"
            "commission rate:percent:1:15;campaign budget:euros:1000:90000"
        ),
    ),
    Topic(
        "facilities",
        _t(
            "office,meeting room,parking space,badge,heating system,air conditioning,"
            "cleaning schedule,lift,printer,reception desk,visitor,desk booking,kitchen,"
            "lighting,key card,lease,floor plan,waste bin,bicycle rack,maintenance window"
        ),
        _t("book,clean,repair,open,close,heat,reserve,replace"),
        _t("booked,cleaned,repaired,opened,closed,heated,reserved,replaced"),
        _t("shared,quiet,accessible,ground-floor,open-plan,reserved,temporary,main"),
        _t("office guide,facility policy,building manual,visitor procedure"),
        _attrs(
            "capacity:people:4:400;opening hour:o'clock:6:10;"
            "room temperature:degrees Celsius:18:24;booking limit:hours:1:8"
        ),
    ),
    Topic(
        "clinical",
        _t(
            "patient,dose,prescription,ward,nurse,diagnosis,symptom,referral,discharge,"
            "consent form,blood test,treatment plan,side effect,appointment,clinic,"
            "medical record,infusion,allergy,follow-up visit,triage"
        ),
        _t("prescribe,administer,monitor,discharge,refer,diagnose,document,review"),
        _t("prescribed,administered,monitored,discharged,referred,diagnosed,documented,reviewed"),
        _t("acute,chronic,routine,elective,paediatric,outpatient,adverse,severe"),
        _t("clinical guideline,ward procedure,patient leaflet,care pathway"),
        _attrs(
            "maximum daily dose:milligrams:5:4000;waiting time target:weeks:1:18;"
            "observation interval:hours:1:12;follow-up period:months:1:24"
        ),
    ),
)

_TEAMS = _t(
    "operations,finance,legal,IT,quality,support,safety,logistics,research,sales,"
    "facilities,procurement,engineering,compliance"
)
_FIRST = _t(
    "Anna,Ben,Chloe,David,Elena,Farid,Grace,Hugo,Ines,Jonas,Kemal,Lena,Marta,Noah,"
    "Olga,Pieter,Rosa,Samir,Tomas,Ursula,Victor,Wen,Yusuf,Zoe"
)
_LAST = _t(
    "Adams,Berger,Costa,Dubois,Eriksen,Fischer,Garcia,Hansen,Ivanova,Jansen,Kowalski,"
    "Larsen,Moreau,Novak,Olsen,Peters,Rossi,Schmidt,Tanaka,Weber"
)
_PLACES = _t(
    "the Lyon site,the Rotterdam warehouse,head office,the Leeds plant,the Porto office,"
    "the Berlin lab,the Gdansk depot,the Milan showroom,building C,the north wing"
)
_MONTHS = _t(
    "January,February,March,April,May,June,July,August,September,October,November,December"
)
_PERIODS = _t("days,weeks,months,shifts,quarters")
_PERIOD = _t("day,week,month,shift,quarter,year")

# Slots: {n} {n2} nouns, {v} {v2} verbs and {d} {d2} their participles, {a} adjective, {doc},
# {team}, {who} {who2} people, {where} place, {month} {year} {day}, {num} {num2} {pct} {money}
# numbers, {pers} {per} periods, {letter}.  {x|y|z} picks one of the words, so that no template
# word ends up in every chunk: in real prose few words besides stop words are that common.
_TEMPLATES = (
    "The {a} {n} {must|has to|needs to|should} be {d} before the {n2} is {d2}.",
    "According to the {doc} from {month} {year}, the {n} was {d} by {who}.",
    "Section {num}.{num2} of the {doc} {says|states|specifies} that the {n} is {d} every {num} "
    "{pers}.",
    "If the {n} is not {d} {in time|on schedule|as agreed}, {who} will {v} the {n2} within {num} "
    "days.",
    "In {year}, {who} proposed to {v} every {a} {n} and to {v2} the {n2} at {where}.",
    "{Usually|Normally|Most of the time} the {n} is {d} on site, while the {a} {n2} is {d2} by "
    "an outside {partner|contractor|supplier}.",
    "Table {num} lists each {a} {n} together with the {n2} it belongs to.",
    "The {team} {team|department|group|unit} {reported|found|stated} that {pct} percent of the {n} "
    "{checks|inspections|reviews} were completed {on time|late|twice}.",
    "Before you {v} the {n}, {make sure|confirm|verify} that the {n2} has been {d}.",
    "{who} {noted|pointed out|observed} that the {n} and the {n2} are easily confused.",
    "A {a} {n} costs about {money} euros and {usually|typically|normally} lasts {num} {pers}.",
    "The {review|audit|investigation} found no evidence that the {n} had been {d} incorrectly at "
    "{where}.",
    "We {recommend|suggest|advise} that {staff|employees|operators|users} {v} the {n} at least "
    "once per {per}.",
    "Questions about the {n} go to the {team} {desk|office|group}, which {keeps|maintains|owns} "
    "the {doc}.",
    "The {n} at {where} was {d} in {month} {after|when|because} a {a} {n2} {turned up|was "
    "discovered|appeared} during an inspection.",
    "This procedure does not apply to a {a} {n}, which follows the {doc} instead.",
    "During the {last|previous|annual} audit the {n} log showed {num} entries that had not been "
    "{d}.",
    "Take care to {v} the {n} properly, because a {a} {n2} can {delay|hold up|block} {other|later} "
    "{jobs|work|tasks}.",
    "The {doc} was last {updated|revised|edited} by {who} on {day} {month} {year}.",
    "Each {n} is assigned to one {n2}, and {changes|updates|amendments} {need|require} "
    "{approval|sign-off} from {who}.",
    "When a {a} {n} is {reported|noticed|flagged}, the person on duty should {v} it and record "
    "the {n2}.",
    "{There is no need|It is pointless} to {v} the {n} again unless the {n2} was "
    "{modified|altered|replaced} since it was {d}.",
    "Since {month}, the {n} is {d} by {who} rather than by the {team} {staff|team|crew}.",
    "The new {n} replaces the old {a} {n2}, which will be {d} by the end of {year}.",
    "Please {v} the {n} yourself only if you have {completed|passed|attended} the {team} "
    "{training|course|briefing}.",
    "Our {records|figures|logs} suggest that a {a} {n} is {d} roughly {num} times a {per}.",
    "{who} and {who2} {disagree|differ} on whether the {n2} {should|must} be {d} at all.",
    "Any {a} {n} found at {where} is to be {d} and logged the same day.",
    "Costs for the {n} are {booked|charged} against the {team} budget unless stated otherwise.",
    "A short {summary|overview|description} of the {n} appears in appendix {letter} of the {doc}.",
    "For {historical|practical|legal} reasons the {n} and the {n2} are kept in separate "
    "{systems|files|folders}.",
    "As of {year}, {pct} percent of {sites|branches|locations} {v} the {n} with their own people.",
    "It took {num} {pers} to {v} the {a} {n} at {where} last {per}.",
    "Nobody should {v} a {a} {n} without a second person present.",
    "The {n} described here is not the same as the {a} {n2} in {earlier|older|previous} editions.",
    "Contact {who} if the {n} cannot be {d} as planned.",
    "{Experience|Practice} at {where} shows that a {a} {n} is rarely {d}.",
    "The {figures|numbers|totals} for the {n} were {d} again in {month} and now match the {doc}.",
    "Where possible, {v} the {n} during quiet hours to avoid {disruption|delays|complaints}.",
    "A checklist for the {n} is kept next to the {n2} at {where}.",
)
# Appended to some sentences: words from a frequency-ordered English vocabulary, so every chunk
# also holds a few of the many rare words real documents have.
_ASIDES = (
    ", including {w} and {w2}",
    " (see {w} {w2})",
    ", as with the {w}",
    " for the {w} {w2} project",
    ", mostly around {w}",
    ", not the {w}",
    " ({w}, {w2})",
    " near the {w} {w2}",
    ", unlike {w} {w2}",
    " or {w}",
    ", much like {w}",
    " under {w}",
)
_FACT = "The {n} {code} has a {attr} of {value} {unit}."
_FACT_QUERIES = (
    "What is the {attr} of the {n} {code}?",
    "{attr} {n} {code}",
    "Which {attr} does the {n} {code} have?",
    "Tell me the {attr} for {code}.",
)
_TOPIC_QUERIES = (
    "How often should the {n} be {d}?",
    "Who {approves|signs off} {changes|updates} to the {a} {n}?",
    "What does the {doc} say about the {n}?",
    "What should I do before I {v} the {n}?",
    "{a} {n} {n2}",
    "{n} {d}",
    "Is a {a} {n} covered by the {doc}, and {who is responsible for|which group looks after} "
    "the {n2}?",
    "Why was the {n} at {where} {d} in {month}?",
)
_LONG_QUERY = (
    "I am new to the {team} {team|department|group} and I need to understand the rules for the "
    "{a} {n}: who is allowed to {v} it, how often the {n2} has to be {d}, and what happens if we "
    "miss the deadline in {month}?"
)
_CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")
_A_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def _skewed(rng: random.Random, words: Sequence[str]) -> str:
    # Earlier words are likelier (Zipf-like): a few words dominate, most are rare.
    n = len(words)
    return words[min(int(n * rng.random() ** 2.2), n - 1)]


@functools.cache
def _english() -> tuple[list[str], list[float]]:
    """Content words in frequency order, with Zipf cumulative weights.

    The MiniLM (BERT) vocabulary lists whole words roughly by frequency in Wikipedia and books;
    the first 150 (mostly stop words) are left out: the templates have enough of those.
    """
    vocab = json.loads(tokenizer_path().read_text())["model"]["vocab"]
    words = [w for w, i in sorted(vocab.items(), key=lambda kv: kv[1]) if i >= 1996]
    words = [w for w in words if w.isascii() and w.isalpha() and len(w) > 2][150:]
    weights = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(words))))
    return words, weights


class Writer:
    """Sentences, pages, facts and queries from a seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._codes: set[str] = set()
        self._words, self._weights = _english()

    def words(self, count: int) -> list[str]:
        """``count`` content words drawn by frequency (Zipf), so most are common, some rare."""
        return self.rng.choices(self._words, cum_weights=self._weights, k=count)

    def _slots(self, topic: Topic, focus: Sequence[str] = ()) -> dict[str, str]:
        rng = self.rng
        # Half the nouns come from the focus (a sub-topic), so passages about it share words.
        nouns = [
            rng.choice(focus) if focus and rng.random() < 0.5 else _skewed(rng, topic.nouns)
            for _ in range(3)
        ]
        verb = rng.randrange(len(topic.verbs))
        verb2 = rng.randrange(len(topic.verbs))
        return {
            "n": nouns[0],
            "n2": nouns[1] if nouns[1] != nouns[0] else nouns[2],
            "v": topic.verbs[verb],
            "v2": topic.verbs[verb2],
            "d": topic.done[verb],
            "d2": topic.done[verb2],
            "a": _skewed(rng, topic.adjectives),
            "doc": rng.choice(topic.docs),
            "team": _skewed(rng, _TEAMS),
            "who": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "who2": rng.choice(_FIRST),
            "where": rng.choice(_PLACES),
            "month": rng.choice(_MONTHS),
            "year": str(rng.randint(2015, 2025)),
            "day": str(rng.randint(1, 28)),
            "num": str(rng.randint(2, 12)),
            "num2": str(rng.randint(1, 9)),
            "pct": str(rng.randint(55, 99)),
            "money": f"{rng.randint(2, 900) * 10:,}",
            "pers": rng.choice(_PERIODS),
            "per": rng.choice(_PERIOD),
            "letter": rng.choice("ABCDEFGH"),
        }

    def _fill(self, template: str, slots: dict[str, str]) -> str:
        rng = self.rng
        text = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template).format(**slots)
        text = _A_VOWEL.sub(r"\1n ", text)
        return text[0].upper() + text[1:]

    def sentence(self, topic: Topic, focus: Sequence[str] = ()) -> str:
        """One sentence about ``topic``; some end with an aside of less common words."""
        text = self._fill(self.rng.choice(_TEMPLATES), self._slots(topic, focus))
        return self.with_aside(text) if self.rng.random() < 0.2 else text

    def with_aside(self, sentence: str) -> str:
        """``sentence`` with an aside of two less common words before its full stop."""
        w, w2 = self.words(2)
        return sentence[:-1] + self.rng.choice(_ASIDES).format(w=w, w2=w2) + sentence[-1]

    def code(self) -> str:
        """A new unique item code such as ``HX-4471``."""
        rng = self.rng
        while True:
            letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ") for _ in range(2))
            code = f"{letters}-{rng.randint(1000, 9999)}"
            if code not in self._codes:
                self._codes.add(code)
                return code

    def fact(self, topic: Topic) -> Fact:
        """A fact sentence about a newly coded item of ``topic``, and how to ask for it."""
        rng = self.rng
        attr, unit, low, high = rng.choice(topic.attributes)
        slots = {
            "n": _skewed(rng, topic.nouns),
            "code": self.code(),
            "attr": attr,
            "value": str(rng.randint(low, high)),
            "unit": unit,
        }
        return Fact(_FACT.format(**slots), rng.choice(_FACT_QUERIES).format(**slots), slots["code"])

    def paragraph(self, topic: Topic, sentences: int, focus: Sequence[str] = ()) -> str:
        """``sentences`` sentences about ``topic``, joined."""
        return " ".join(self.sentence(topic, focus) for _ in range(sentences))

    def topic_query(self, topic: Topic) -> str:
        """A question or keyword query about ``topic`` (no particular target)."""
        rng = self.rng
        template = _LONG_QUERY if rng.random() < 0.15 else rng.choice(_TOPIC_QUERIES)
        return self._fill(template, self._slots(topic))


@dataclass(frozen=True)
class Fact:
    """A fact stated once in the corpus, a query for it, and the code that identifies it."""

    sentence: str
    query: str
    code: str


# -- PDFs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfSpec:
    """A generated PDF: its file, pages and the facts it states (page -> fact)."""

    path: Path
    pages: int
    words: int
    facts: dict[int, Fact]


_PAGE_W, _PAGE_H, _MARGIN, _FONT_PT, _LEADING = 612, 792, 60, 10, 13
_WRAP = 92  # characters per line: about 450 pt of 10-pt Helvetica, inside the margins


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252", "replace") + b")"


def _page_stream(lines: Sequence[str]) -> bytes:
    top = _PAGE_H - _MARGIN
    ops = [f"BT /F1 {_FONT_PT} Tf {_LEADING} TL {_MARGIN} {top} Td".encode()]
    for line in lines:
        if line:
            ops.append(_pdf_string(line) + b" Tj T*")
        else:
            ops.append(b"T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def write_pdf(path: Path, pages: Sequence[Sequence[str]], *, title: str) -> None:
    """A PDF with one page per list of lines, in Helvetica, with a Title in its Info."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in once the page objects are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _pdf_string(title) + b" /Producer (docchat bench) >>",
    ]
    kids = []
    for lines in pages:
        stream = zlib.compress(_page_stream(lines), 6)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream"
        )
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (_PAGE_W, _PAGE_H, len(objects))
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


def make_pdfs(
    folder: Path, *, count: int, pages: int, seed: int = 1, words_per_page: int = 350
) -> list[PdfSpec]:
    """``count`` PDFs of ``pages`` pages each (about ``words_per_page`` words a page)."""
    writer = Writer(seed)
    rng = writer.rng
    specs = []
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        topic = TOPICS[index % len(TOPICS)]
        title = f"{rng.choice(topic.docs).title()} {2015 + index % 11} ({topic.name}, no. {index})"
        facts: dict[int, Fact] = {}
        rendered: list[list[str]] = []
        total_words = 0
        for page in range(1, pages + 1):
            focus = rng.sample(topic.nouns, 3)
            fact = writer.fact(topic)
            facts[page] = fact
            paragraphs: list[str] = []
            words = 0
            target = rng.randint(words_per_page - 50, words_per_page + 50)
            fact_at = rng.randint(0, 3)
            while words < target:
                text = writer.paragraph(topic, rng.randint(3, 6), focus)
                if len(paragraphs) == fact_at:
                    text = f"{text} {fact.sentence}"
                paragraphs.append(text)
                words += len(text.split())
            if len(paragraphs) <= fact_at:
                paragraphs[-1] += " " + fact.sentence
                words += len(fact.sentence.split())
            lines = [f"{title}, page {page}", ""]
            if rng.random() < 0.6:
                lines += [f"{page}. {focus[0].capitalize()} and {focus[1]}", ""]
            for text in paragraphs:
                lines += [*textwrap.wrap(text, _WRAP, break_on_hyphens=False), ""]
            rendered.append(lines)
            total_words += words
        path = folder / f"{topic.name}-{index:03d}.pdf"
        write_pdf(path, rendered, title=title)
        specs.append(PdfSpec(path, pages, total_words, facts))
    return specs


# -- synthetic chunks for the latency benchmark ------------------------------------------------


@dataclass(frozen=True)
class Theme:
    """A sub-topic: its topic and focus nouns; synthetic vectors cluster around its embedding."""

    topic: Topic
    focus: tuple[str, ...]


def themes(count: int, seed: int = 2) -> list[Theme]:
    """``count`` sub-topics spread over the topics."""
    rng = random.Random(seed)
    return [
        Theme(TOPICS[i % len(TOPICS)], tuple(rng.sample(TOPICS[i % len(TOPICS)].nouns, 3)))
        for i in range(count)
    ]


@dataclass(frozen=True)
class SyntheticDocument:
    """A document made without parsing: its text, chunks, each chunk's theme, and its facts."""

    sha256: str
    file_name: str
    parsed: ParsedDocument
    chunks: list[Chunk]
    chunk_themes: list[int]
    facts: list[Fact]


class SyntheticCorpus:
    """Documents of many ~150-word chunks, each chunk about one theme and stating one fact.

    Sentences are drawn from a per-theme pool (cheap at 100k chunks) plus a unique fact sentence,
    so term statistics look like prose and every chunk has rare, searchable words.
    """

    def __init__(self, all_themes: Sequence[Theme], *, seed: int = 3, pool: int = 80) -> None:
        self.writer = Writer(seed)
        self.themes = list(all_themes)
        self.pools = [
            [self.writer.sentence(t.topic, t.focus) for _ in range(pool)] for t in self.themes
        ]
        self.serial = 0

    def passage(self, theme: int, words: int = 150) -> str:
        """About ``words`` words about theme number ``theme``."""
        rng, pool = self.writer.rng, self.pools[theme]
        out: list[str] = []
        count = 0
        while count < words:
            sentence = rng.choice(pool)
            out.append(sentence)
            count += sentence.count(" ") + 1
        return " ".join(out)

    def documents(self, chunks: int, per_document: int) -> Iterator[SyntheticDocument]:
        """Documents holding ``chunks`` chunks in all, ``per_document`` each (the last fewer)."""
        rng = self.writer.rng
        made = 0
        while made < chunks:
            n = min(per_document, chunks - made)
            yield self._document(n, rng)
            made += n

    def _document(self, n: int, rng: random.Random) -> SyntheticDocument:
        self.serial += 1
        home = rng.randrange(len(self.themes))
        texts, chunk_themes, facts = [], [], []
        for _ in range(n):
            # Documents stay mostly on their own theme, as real ones do.
            theme = home if rng.random() < 0.6 else rng.randrange(len(self.themes))
            fact = self.writer.fact(self.themes[theme].topic)
            body = self.passage(theme, rng.randint(110, 150))
            cut = body.find(". ", len(body) // 2) + 1 or len(body)
            # Pooled sentences repeat; the fact and a fresh aside make each chunk its own.
            middle = self.writer.with_aside(fact.sentence)
            texts.append(f"{body[:cut]} {middle}{body[cut:]}")
            chunk_themes.append(theme)
            facts.append(fact)
        units: list[TextUnit] = []
        chunks: list[Chunk] = []
        parts: list[str] = []
        pos = 0
        for ordinal, text in enumerate(texts):
            if parts:
                parts.append("\n\n")
                pos += 2
            page = ordinal // 3 + 1
            units.append(TextUnit(text, pos, pos + len(text), page, None, f"page {page}"))
            chunks.append(Chunk(ordinal, text, pos, pos + len(text), page, None, len(text) // 5))
            parts.append(text)
            pos += len(text)
        full = "".join(parts)
        topic = self.themes[home].topic
        title = f"{topic.docs[self.serial % len(topic.docs)].title()} {self.serial}"
        parsed = ParsedDocument(full, units, "application/pdf", chunks[-1].page, title, [])
        sha = hashlib.sha256(full.encode()).hexdigest()
        name = f"synthetic-{topic.name}-{self.serial:05d}.pdf"
        return SyntheticDocument(sha, name, parsed, chunks, chunk_themes, facts)
