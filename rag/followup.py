"""Follow-up questions: a question that leans on the previous turn is resolved against it before retrieval.

People chat in follow-ups ("Who did he start talks with?", "And when?"). Read alone, such a question
gives retrieval and the reader little to go on. ``resolve`` applies one rule, a few lines of it per case,
and only ever looks at the previous turn (whose own resolved question already carries what came before):

1. A question stands alone and is returned unchanged unless it leans on the previous turn: it holds a
   pronoun that points back (he, she, him, his, her, it, its, they, them, their, there, then, ones; not
   an existential "there is"), starts with "and", "but", "so", "what about" or "how about", ends with
   "that", "this" or "so", holds "that" or "this" beside an auxiliary ("How long did that take?"), or has
   fewer than two content words besides prepositions ("When?", "On what date?", "Why not now?").
2. Person pronouns (he, she, him, his, her) become the person the previous turn was about: its answer
   when that reads as a name (every word capitalised, at most six words), else the X of a previous
   "Who is X?", else the first capitalised name in the previous question after its first word. "his",
   and "her" before a word, become "<name>'s".
   "They" and "them" become the previous answer when it names several things ("Britain and
   Germany", "migrants"; never a number): "How many troops will each of them provide?".
3. A bare wh-phrase, with no verb of its own ("When?", "With which countries?", "Why not now?"), takes
   the rest of the previous question: the previous wh-phrase gives way to the new one ("Who did
   Craddock start talks with?" + "When?" -> "When did Craddock start talks with?"). When the previous
   wh-phrase was the subject ("Who declared it?"), the previous answer stands in its place ("On what
   date George W. Bush declared it?").
4. "What about X?" repeats the previous question with X in place of its first capitalised name (or, with
   none, X appended).
5. Retrieval searches for the resolved question followed by the previous turn's question and answer, so
   the passages stay where the conversation is; the reader reads the resolved question alone.

What the rule cannot resolve ("it" for a thing, "they" after a single answer) it leaves to step 5: the
words stay, and the previous turn steers retrieval. Rules were chosen on ``eval/dialogues-tune.jsonl``;
``eval/dialogues.jsonl`` reports them (``rag eval``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel

from rag.schema import Turn
from rag.words import content_words

WH = frozenset("what which who whom whose when where why how".split())
AUX = frozenset("do does did is are was were will would can could has have had should shall may might must".split())
PERSON = frozenset("he she him his her".split())
BACK = PERSON | frozenset("it its they them their there then ones".split())
EXISTENTIAL = frozenset("is are was were be been".split())  # "is there ...", "there are ...": not a place
LEADS = ("and ", "but ", "so ", "what about ", "how about ")
PREPOSITIONS = frozenset("on in at by with for from to during after before since until about of".split())
NAME_PARTICLES = frozenset("of de da van von der al bin the and".split())

_THEY = re.compile(r"(?i)\b(?:they|them)\b")
_TOKEN = re.compile(r"[A-Za-z0-9][\w.,'’-]*[\w.]|[A-Za-z0-9]")


class Resolution(BaseModel):
    """A question as asked, as resolved for the reader, and what retrieval searches for."""

    asked: str
    question: str  # what the reader reads (the question asked when it stands alone)
    search: str  # what retrieval searches for
    rule: str = ""  # steps applied, "+"-joined: "person", "plural", "wh", "about"; "context" (retrieval only); "" alone


def leans_on_previous(question: str) -> bool:
    """Step 1: whether ``question`` points back to the previous turn."""
    q = question.strip().lower()
    words = re.findall(r"[a-z]+", q)
    if any(w in BACK and not (w == "there" and _existential(words, i)) for i, w in enumerate(words)):
        return True
    if q.startswith(LEADS) or (words and words[-1] in {"that", "this", "so"}):
        return True
    if any(w in {"that", "this"} and (words[i - 1] in AUX or (i + 1 < len(words) and words[i + 1] in AUX))
           for i, w in enumerate(words) if i > 0):
        return True  # a demonstrative standing for what was said: "How long did that take?"
    return len(_content(question)) < 2


def _existential(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` ("there") is existential: next to a form of "be"."""
    return any(0 <= j < len(words) and words[j] in EXISTENTIAL for j in (i - 1, i + 1))


def resolve(question: str, history: Sequence[Turn] = ()) -> Resolution:
    """``question`` resolved against the last turn of ``history`` (see the module docstring)."""
    if not history or not leans_on_previous(question):
        return Resolution(asked=question, question=question, search=question)
    prev = history[-1]
    prev_q = _strip_q(prev.resolved or prev.question)
    q = _strip_q(question)
    rules = []
    lead = re.match(r"(?i)(and|but|so)\s+", q)
    if lead:
        q = q[lead.end():]
    about = re.match(r"(?i)(?:what|how) about\s+(.+)$", q)
    if about:
        q, used = _what_about(prev_q, about.group(1))
        rules.append(used)
    else:
        person = _person(prev_q, prev.answer)
        if person and any(w.lower() in PERSON for w in _words(q)):
            q = _replace_persons(q, person)
            rules.append("person")
        if _names_several(prev.answer) and _THEY.search(q):
            q = _THEY.sub((prev.answer or "").strip(), q, count=1)
            rules.append("plural")
        if _is_bare_wh(q):
            q = _take_rest(q, prev_q, prev.answer)
            rules.append("wh")
    resolved = q[:1].upper() + q[1:] + "?"
    search = " ".join(x for x in (resolved, prev_q + "?", prev.answer or "") if x)
    return Resolution(asked=question, question=resolved, search=search, rule="+".join(rules) or "context")


# ---- the steps -----------------------------------------------------------------------------------

def _content(text: str) -> list[str]:
    return [w for w in content_words(text) if w not in PREPOSITIONS]


def _strip_q(text: str) -> str:
    return text.strip().rstrip("?.! ").strip()


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _is_name(text: str | None) -> bool:
    if not text:
        return False
    words = text.split()
    return 0 < len(words) <= 6 and all(w[:1].isupper() or w.lower() in NAME_PARTICLES for w in words) \
        and words[0][:1].isupper()


def _names_several(answer: str | None) -> bool:
    """Whether an answer names several things ("Britain and Germany", "migrants"): what "they" and
    "them" stand for in the next question. Numbers never do ("4,000 troops" answers a count)."""
    words = (answer or "").split()
    if not words or len(words) > 8 or re.search(r"\d", answer or ""):
        return False
    return "and" in words or (len(words) == 1 and words[0].endswith("s") and not words[0].endswith("ss"))


def _first_name(text: str) -> str | None:
    """The first run of capitalised words of ``text`` that is not its first word."""
    words = text.split()
    start = next((i for i in range(1, len(words)) if words[i][:1].isupper()), None)
    if start is None:
        return None
    end = start
    while end + 1 < len(words) and words[end + 1][:1].isupper():
        end += 1
    return " ".join(words[start : end + 1]).rstrip(",;:")


def _person(prev_q: str, prev_answer: str | None) -> str | None:
    """Step 2's antecedent: who the previous turn was about."""
    if _is_name(prev_answer):
        return prev_answer
    m = re.match(r"(?i)who (?:is|was|are|were) (.+)$", prev_q)
    if m:
        return m.group(1)
    return _first_name(prev_q)


def _replace_persons(q: str, person: str) -> str:
    words = q.split()
    out = []
    for i, w in enumerate(words):
        core = w.rstrip(",;:")
        lw = core.lower()
        nxt = words[i + 1].lower() if i + 1 < len(words) else ""
        possessive = lw == "his" or (lw == "her" and w == core and nxt != ""
                                     and nxt not in PREPOSITIONS | AUX | {"and", "or", "but"})
        if lw in PERSON:
            out.append(person + ("'s" if possessive and not person.endswith("'s") else "") + w[len(core):])
        else:
            out.append(w)
    return " ".join(out)


def _is_bare_wh(q: str) -> bool:
    """A wh-phrase with no verb of its own: "When", "With which countries", "Why not now"."""
    words = [w.lower() for w in _words(q)]
    i = 1 if words and words[0] in PREPOSITIONS else 0
    if i >= len(words) or words[i] not in WH or any(w in AUX for w in words):
        return False
    after = words[i + 1:]
    if after[:1] in (["many"], ["much"]):
        after = after[1:]
    return len(after) <= 1 or all(w in {"not", "now", "then", "else", "exactly"} for w in after)


def _split_wh(prev_q: str) -> tuple[str, str, bool]:
    """The previous question's wh-phrase, the rest, and whether the wh-phrase was its subject.

    The wh-phrase is the wh-word with its noun ("which country", "how many US soldiers") up to an
    auxiliary; no auxiliary there ("Who said ...", "Which country leads ...") makes it the subject, and so
    does who, which, whose or how many before one other than do/does/did ("Who will try ...").
    """
    words = prev_q.split()
    lower = [w.lower() for w in words]
    wh = next((i for i, w in enumerate(lower[:3]) if w in WH), None)
    if wh is None:
        return "", prev_q, False
    reach = 1 if lower[wh] in {"who", "what", "when", "where", "why"} else 4
    aux = next((i for i in range(wh + 1, min(len(words), wh + 1 + reach)) if lower[i] in AUX), None)
    if aux is not None:
        counts = lower[wh] == "how" and wh + 1 < len(words) and lower[wh + 1] in {"many", "much"}
        subject = (lower[wh] in {"who", "which", "whose"} or counts) and lower[aux] not in {"do", "does", "did"}
        return " ".join(words[:aux]), " ".join(words[aux:]), subject
    end = wh + 1
    if lower[wh] in {"which", "whose", "how"} and end < len(words):
        end += 1  # "which country", "how many"
        if lower[wh] == "how" and lower[end - 1] in {"many", "much"} and end < len(words):
            end += 1  # "how many troops"
    return " ".join(words[:end]), " ".join(words[end:]), True


def _take_rest(q: str, prev_q: str, prev_answer: str | None) -> str:
    """Step 3: the new wh-phrase with the rest of the previous question."""
    _, rest, subject = _split_wh(prev_q)
    if subject and prev_answer:
        rest = f"{prev_answer} {rest}"
    return f"{q} {rest}".strip()


def _what_about(prev_q: str, x: str) -> tuple[str, str]:
    """Step 4: the previous question about ``x`` instead."""
    name = _first_name(prev_q)
    if name:
        i = prev_q.rfind(name)
        return prev_q[:i] + x + prev_q[i + len(name):], "about"
    return f"{prev_q} {x}", "about"
