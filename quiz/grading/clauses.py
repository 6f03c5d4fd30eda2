"""Reading free text as claims: sentences, word stems, negation and whether a sentence says
anything at all.

Text is compared as word stems: case, punctuation, hyphens, plurals and simple suffixes
(-s, -es, -ies, -ing, -ed, a final -e) do not matter, and articles are dropped, so "batches"
matches "batching" and "reads the KV-caches" matches "read kv cache".

A phrase matches inside one sentence where its words appear in order with at most
``MAX_GAP`` other words between two of them and no comma or conjunction between them. A match
is *negated* when an odd number of negation cues ("not", "no", "never", "n't", "isn't true
that" ...) precede it in its clause (a clause ends at a comma, a semicolon, a bracket, a
conjunction such as "but", "and", "so", "because", or a word such as "during", "when",
"after", "for", "beyond", "as soon as", "once" (not the adverb: "once per step") that starts a
phrase of its own) or sit in its gaps; "nor" starts a clause and denies it ("neither X nor Y"
denies both), and what something "says nothing about" is its topic, not denied; "not because X"
denies X. The reason for a denied comparison ("it is not faster because of fewer FLOPs") is
neither stated nor denied: the sentence may deny that reason, or give it for the negative ("INT8
isn't faster because of the dequantization overhead"); a reason in a clause of its own ("isn't
faster because the KV cache is written in BF16") is stated. The object of "at" ("doesn't help at
high batch"), or of a preposition after "worth it" or "bother" ("not worth it in small
deployments", "wouldn't bother with short prompts"), is a condition and not denied; a contrast
", not X" ("and not X", "but not X") after a claim made under a condition (the object of "at",
or a clause opened by "when", "once", "beyond", "if" ...) inherits it, so X is neither stated
nor denied ("at large batch the step is compute bound, not memory bound" does not deny
"memory bound"; "in decode ..." names a scope, not a condition, and does). A label's colon
("Not DeepMind: Medusa is by Cai et al.") ends a negation's reach. "Without", "unlike",
"instead of" and "rather than" deny only the next ``_SHORT_SCOPE`` words; "not only" and "no
matter" deny nothing; "X isn't needed", "X doesn't matter", "X is unnecessary" deny X; what
follows "more than", "less than" or "fewer than" is a bound, not denied ("no more than one
block", "never wastes more than its last block"; "more than one block" itself is denied there).
A claim the answer reports and refutes ("the colleague claims X; that is wrong", "people say X;
it isn't", "some think X, but it does not", "many assume X, which is a myth", or "... X. It
doesn't.") is denied; "people say X, and they are right" states X. So is a claim the answer
calls a myth, the whole clause of it ("it's a myth that X", "a common misconception is that X",
"it is false that X", "Myth: X", "Common misconception: X"; not "it is not a myth that X", nor
"That's a myth: X", a verdict on what came before); a reason inside it ("the myth is that it is
faster because it does fewer FLOPs") is neither stated nor denied. What is said of part of a
statement ("half of the statement is right") is not said of the statement. A phrase whose words
are split by "without" or "unlike" ("a finished model without training it" against "finished
training") is not matched there.

A sentence ends at ".", "!", "?", at a colon that does not follow a short label or lead-in, and at
a line break only where a sentence really ends there: at a blank line, after a line that ends
with ".", "!" or "?", before a list item ("- ", "* ", "• ", "1. ", "1) ", "a) ") and around a
heading ("# ...", a line in bold). Any other line break was typed to wrap the answer and reads as
a space, so a negation reaches across it ("does not make KV smaller or\nattention cheaper"); a
hyphen at a line's end joins the words ("pre-\ndecoded"), and a colon at a line's end reads as it
does within a line.

A sentence is a *claim* when it has a verb-like word ("is", "reads", "cuts", "because",
"=" ...) or some prose around function words. A list of terms ("memory bound, INT8,
calibration", also behind a label: "Fixes: GQA, FP8 KV, paging") is not: in a sentence that
looks like a list, each comma- or semicolon-separated item must be a claim on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_GAP = 2  # words allowed between two words of a phrase

_TOKEN = re.compile(
    r"is:|[a-z0-9]+(?:-[a-z0-9]+)+|[a-z0-9]+(?:\.[0-9]+)?|[.!?;:\n]|[,()\[\]—–]|\s-\s|->|→|="
)
_SENTENCE_END = {".", "!", "?", ":", "\n"}
_BREAK_MARKS = {",", ";", ":", "(", ")", "[", "]", "—", "–", "-"}
_LIST_MARKS = {",", ";"}
_ARTICLES = {"a", "an", "the"}
_CLAIM_MARKS = {"=", "->", "→"}
_COLON_IS = "is:"  # "Latency: the time ..." reads as "latency is the time ..."
_LIST_ITEM_WORDS = 3  # a list's items are this short or shorter
_LEAD_IN_WORDS = 6  # a colon after this few words that make no claim joins what follows
_PROSE_WORDS = 4  # a sentence this long with function words in it says something
_FUNCTION_WORDS_TEXT = (
    "of to in on with by at from against than more less both each every its their our"
)
_FUNCTION_WORDS = {*_FUNCTION_WORDS_TEXT.split(), "your", "my", "i", "not", "per", "into", "over"}
_BREAK_WORDS_TEXT = """but and so because since while whereas although though yet however which
therefore thus hence then instead during when whenever after before until unless if where for
nor beyond"""
# "once" starts a condition ("doesn't grow once the step is compute-bound") unless it is the
# adverb: "reads the weights once per step", "once for the whole batch", "once and for all"
_ONCE_ADVERBIAL_TEXT = """per every each either regardless plus whether more again only or and
for with on to by in at from over across instead rather than but so because"""
_CONDITION_PHRASES_TEXT = ["as soon as", "as long as"]  # "as long as the batch fits"
_NEGATIONS_TEXT = "not no never nor neither without nothing unlike"  # not "none": its stem is "non"
_REPORTING_TEXT = "claims says said argues thinks thought believes assumes suggests"  # "some say"
_REFUTATIONS_TEXT = (
    "wrong false incorrect mistaken untrue myth misconception fallacy"  # "; that is wrong"
)
_NOT_SO_TEXT = "true so case correct right accurate"  # "; that is not the case"
_POINTERS_TEXT = "that this which it they these those he she"  # "; it isn't", "they're wrong"
_PARTS_TEXT = "half part parts rest portion bit"  # "the second half of the statement"
_STATEMENTS_TEXT = "statement claim premise reasoning argument"
_AUXILIARIES_TEXT = "is are was were do does did will can"
_DISMISSALS_TEXT = "needed necessary required matter happen exist true"  # "isn't needed"
_DISMISSIVE_TEXT = "unnecessary irrelevant unneeded"  # "is unnecessary"
_LOOKS_TEXT = "look point aim stare glance good"  # "don't look at X": X is what is denied
_ADJUNCTS_TEXT = "at in on with under below above"  # "not worth it in small deployments"
_SHORT_SCOPE = 2  # words after "instead of", "rather than", "without", "unlike" that they deny
_NOT_DENIALS = {"only", "just", "merely", "matter", "doubt"}  # "not only", "no matter", "no doubt"
_NEGATION_PAIRS_TEXT = ["rather than", "instead of", "opposed to"]
_COMPARATIVES_TEXT = """faster slower quicker cheaper costlier better worse smaller larger bigger
lower higher shorter longer"""  # "not faster because of X": maybe X is denied, maybe not
_CONDITIONS_TEXT = "when whenever once after before until unless if beyond"  # clause openers
_AT_IDIOMS_TEXT = "least most once all first same time"  # "at least one kernel": no condition
_MYTHS_TEXT = "myth misconception fallacy false untrue"  # "a common misconception is that X"
_MYTH_LABELS_TEXT = "myth misconception fallacy"  # "Myth: X" (but "False: X" states X)
_MYTH_FILLERS_TEXT = "is was here to think believe assume say"  # "a misconception to think that"
# Words that make a sentence a claim rather than a list of terms: verbs that are not also
# the field's nouns ("load", "compute", "training", "cost" are left out).
_CLAIM_WORDS_TEXT = """is are was were be been being am has have had do does did can could
will would should may might must shall it they you we this that these those there so because
since if when than make makes means need needs uses read reads store stores give gives take
takes help helps reduce reduces cut cuts increase increases raise raises run runs become
becomes keep keeps let lets allow allows cause causes depend depends dominate dominates limit
limits save saves avoid avoids waste wastes shrink shrinks halve halves move moves fit fits go
goes get gets stay stays remain remains happen happens convert converts replace replaces
produce produces hide hides hidden spend spends spent require requires improve improves hurt
hurts degrade degrades lose loses lost want pay pays add adds skip skips recompute recomputes
send sends sent grow grows tell tells show shows find finds measure measures look looks try
tries choose chooses pick picks decide decides gain gains win wins beat beats
say says"""


def stem(word: str) -> str:
    """A crude, consistent stem: both the key phrases and the answer go through it."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("sses") or (len(word) > 4 and word.endswith(("ches", "shes", "xes"))):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "stopped" -> "stop"
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


_BREAK_WORDS = {stem(word) for word in _BREAK_WORDS_TEXT.split()}
_ONCE = stem("once")
_ONCE_ADVERBIAL = {stem(word) for word in _ONCE_ADVERBIAL_TEXT.split()}
_CONDITION_PHRASES = [[stem(word) for word in phrase.split()] for phrase in _CONDITION_PHRASES_TEXT]
_NEGATIONS = {stem(word) for word in _NEGATIONS_TEXT.split()}
_SHORT_NEGATIONS = {stem("without"), stem("unlike")}
_NOR = stem("nor")
_BECAUSE = stem("because")
_AT, _BOTHER, _WORTH = stem("at"), stem("bother"), stem("worth")
_LOOKS = {stem(word) for word in _LOOKS_TEXT.split()}
_ADJUNCTS = {stem(word) for word in _ADJUNCTS_TEXT.split()}
_AUXILIARIES = {stem(word) for word in _AUXILIARIES_TEXT.split()}
_DISMISSALS = {stem(word) for word in _DISMISSALS_TEXT.split()}
_DISMISSIVE = {stem(word) for word in _DISMISSIVE_TEXT.split()}
_NEGATION_PAIRS = {tuple(stem(word) for word in pair.split()) for pair in _NEGATION_PAIRS_TEXT}
_MYTHS = {stem(word) for word in _MYTHS_TEXT.split()}
_CONDITIONS = {stem(word) for word in _CONDITIONS_TEXT.split()}
_AT_IDIOMS = {stem(word) for word in _AT_IDIOMS_TEXT.split()}
_CONTRAST_STARTS = {",", "—", "–", "-", "and", "but"}  # ", not X", "and not X", "but not X"
_STATEMENT_ENDS = {";", ":", _COLON_IS}
_COMPARATIVES = {stem(word) for word in _COMPARATIVES_TEXT.split()}
_MORE_OR_LESS = {stem("more"), stem("less")}  # "not more efficient because of X"
_MYTH_FILLERS = {stem(word) for word in _MYTH_FILLERS_TEXT.split()}
_MYTH_LABELS = {stem(word) for word in _MYTH_LABELS_TEXT.split()}
_MYTH_FILLER_WORDS = 3  # at most this many between "misconception" and "that"
_TOPIC_PAIRS = {(stem("nothing"), "about"), (stem("anything"), "about")}
_BOUNDS = {(stem(word), "than") for word in ("more", "less", "fewer")}  # "no more than N"
_CLAIM_WORDS = {stem(word) for word in _CLAIM_WORDS_TEXT.split()}
_REPORTING = {stem(word) for word in _REPORTING_TEXT.split()}
_POINTERS = {stem(word) for word in _POINTERS_TEXT.split()}
_NOT_SO = {stem(word) for word in _NOT_SO_TEXT.split()}
_TRUE = stem("true")
_VERDICT_STARTS = {"and", "but", "which"}  # "X but it does not": a verdict may start here
_REFUTING_AUXILIARIES = _AUXILIARIES | {stem("has"), stem("have")}  # "it hasn't"
_REFUTATIONS = {stem(word) for word in _REFUTATIONS_TEXT.split()}
_PARTS = {stem(word) for word in _PARTS_TEXT.split()}
_STATEMENTS = {stem(word) for word in _STATEMENTS_TEXT.split()}


# "Latency: the time ..." at the start of a line or sentence: a label of up to three words.
_SHORT_LABEL = re.compile(
    r"(?m)(^|[.!?;]\s+)(\s*[^\s:,.;!?]+(?:[ \t]+[^\s:,.;!?]+){0,2})\s*:(?!//)"
)


# A line break ends a sentence only at a blank line, after a line that ends with ".", "!" or
# "?", or before a list item or a heading (or after a heading); elsewhere the answer was wrapped
# by hand and the break is a space. (After a colon it is a space too: the colon then reads as
# it does within a line.)
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•][ \t]|\(?[0-9]+[.)][ \t]|\(?[a-z]\)[ \t])", re.I)
_HEADING = re.compile(r"[ \t]*(?:#|(\*\*|__).+\1[ \t]*$)")
_LINE_ENDS = (".", "!", "?")
_CLOSING = " \t\"')]*_”’»"  # after a sentence's mark: 'It is wrong."', '(see above.)'
_HYPHEN_WRAP = re.compile(r"[a-z0-9]-$", re.I)  # "pre-" + "decoded" is "pre-decoded"
_WRAPPED_LINE = 50  # a line this long was most likely cut at a wrap column, not ended
_CAPITALISED = re.compile(r"[ \t]*[A-Z][a-z]")  # "Batching helps", not "KV cache" or "I'd"
_GOES_ON = re.compile(  # a line that ends here has more to say
    r"(?:[,:;(-]|\b(?:and|or|but|nor|the|a|an|of|to|in|on|at|for|with|by|from|as|than|that|"
    r"which|who|not|no|is|are|was|were|be|been|will|would|can|could|should|may|might|must|do|"
    r"does|did|has|have|had|so|because|if|when|while|into|per|via|its|their|this|these|those|"
    r"each|every|more|less|fewer|makes?|takes?|needs?|uses?))[ \t]*$",
    re.I,
)


def _unwrap(text: str) -> str:
    """``text`` with the line breaks that do not end a sentence read as spaces: a break goes on
    a sentence when the next line starts in lower case or with an acronym, after a line long
    enough to have been cut at a wrap column, or after a comma or a word that cannot end one
    ("... smaller or" / "Attention cheaper"); a short line before a capitalised word ends on
    its own, as a note typed one per line does ("Not compute bound" / "Batching helps")."""
    lines = re.split(r"\r\n?|\n", text)
    joined = [lines[0]]
    for before, line in zip(lines, lines[1:], strict=False):
        if (
            not before.strip()
            or not line.strip()
            or before.rstrip(_CLOSING).endswith(_LINE_ENDS)
            or _LIST_ITEM.match(line)
            or any(_HEADING.match(either) for either in (before, line))
            or (
                _CAPITALISED.match(line)
                and len(before.strip()) < _WRAPPED_LINE
                and not _GOES_ON.search(before)
            )
        ):
            joined.append("\n" + line)
        elif _HYPHEN_WRAP.search(before.rstrip()):
            joined.append(line.lstrip())
        else:
            joined.append(" " + line)
    return "".join(joined)


def _normalise(text: str) -> str:
    text = _unwrap(text).lower().replace("’", "'").replace("‘", "'")
    text = text.replace("γ", " gamma ").replace("α", " alpha ").replace("β", " beta ")
    text = re.sub(r"\bcannot\b", "can not", text)
    text = text.replace("!=", " is not ").replace("≠", " is not ")
    text = re.sub(r"\bw/o\b", "without", text)
    text = re.sub(r"n't\b", " not", text)
    text = re.sub(r"\b(it|that|there|what|which|who|here)'s\b", r"\1 is", text)
    text = re.sub(r"'(s|re|ve|ll|d)\b", "", text)
    return _SHORT_LABEL.sub(_label, text)


def _label(found: re.Match[str]) -> str:
    """ "Latency:" reads as "latency is:", but "It doesn't:" or "That's wrong:" is a verdict on
    what came before, not a label, and "Common misconception:" calls what follows wrong."""
    stems = [stem(w) for w in re.findall(r"[a-z0-9]+", found[2]) if w not in _ARTICLES]
    if _refutes(stems) or stems[-1:] and stems[-1] in _MYTH_LABELS:
        return found[0]  # "Common misconception: X" names X a misconception: see _called_a_myth
    return f"{found[1]}{found[2]} is: "


def words(text: str) -> list[str]:
    """The stems of the words in ``text``, articles dropped (for phrases and tests)."""
    return [
        stem(token)
        for found in _TOKEN.findall(_normalise(text))
        for token in (found.split("-") if _is_word(found) else [found])
        if _is_word(token) and token not in _ARTICLES
    ]


@dataclass(frozen=True)
class Sentence:
    """One sentence: its tokens (stems, or break marks), and which tokens are in a claim."""

    tokens: tuple[str, ...]
    claim: tuple[bool, ...]  # per token: is it inside a claim (sentence or list item)?
    word_count: int


def sentences(text: str) -> list[Sentence]:
    """``text`` as sentences of stems and break marks (a line break that does not end a sentence
    is a space: see the module's docstring). A bare refutation ("That is wrong.", "It isn't.")
    after a sentence that reports a claim joins it, as if after a semicolon."""
    result: list[tuple[list[str], list[bool]]] = []
    current: list[str] = []
    compound: list[bool] = []  # a part of "all-reduce" or "memory-bound" is never a verb
    for found in [*_TOKEN.findall(_normalise(text)), "."]:
        if found == ":" and _lead_in(current, compound):
            current.append(found)  # "The speed-up carries over: ..." leads into its claim
            compound.append(False)
        elif found in _SENTENCE_END:
            if result and _refutes(current) and _REPORTING.intersection(result[-1][0]):
                result[-1][0].extend([";", *current])
                result[-1][1].extend([False, *compound])
            elif any(_is_word(t) for t in current):
                result.append((current, compound))
            current, compound = [], []
        elif found == _COLON_IS or not _is_word(found):
            current.append(found.strip())
            compound.append(False)
        else:
            parts = [part for part in found.split("-") if part not in _ARTICLES]
            current += [stem(part) for part in parts]
            compound += [len(parts) > 1] * len(parts)
    return [_sentence(tokens, parts) for tokens, parts in result]


def _lead_in(tokens: list[str], compound: list[bool]) -> bool:
    """Whether the words before a colon are a short lead-in that is no claim on its own
    ("The speed-up carries over:"), to be read with what follows as one sentence."""
    words_here = sum(_is_word(t) for t in tokens)
    return 0 < words_here <= _LEAD_IN_WORDS and not any(_sentence(tokens, compound).claim)


def _sentence(tokens: list[str], compound: list[bool]) -> Sentence:
    verbs = [t if not part else "" for t, part in zip(tokens, compound, strict=True)]
    items = _split(verbs, _LIST_MARKS)
    sizes = [sum(_is_word(t) for t in item) for item in _split(tokens, _LIST_MARKS)]
    short_items = sum(
        size <= _LIST_ITEM_WORDS and not _has_claim(item, in_list=True)
        for size, item in zip(sizes, items, strict=True)
    )
    claim: list[bool] = []
    if len(items) >= 3 and short_items >= len(items) / 2:  # a list: judge each item
        for item in items:
            claim += [_has_claim(item, in_list=True)] * (len(item) + 1)  # + its comma
    else:
        claim = [_has_claim(verbs, in_list=False)] * len(tokens)
    return Sentence(tuple(tokens), tuple(claim[: len(tokens)]), sum(sizes))


def _is_word(token: str) -> bool:
    return token[:1].isalnum()


def _split(tokens: list[str], marks: set[str]) -> list[list[str]]:
    items: list[list[str]] = [[]]
    for token in tokens:
        if token in marks:
            items.append([])
        else:
            items[-1].append(token)
    return items


def _has_claim(tokens: Sequence[str], in_list: bool) -> bool:
    """A verb-like word, or (outside a list) a sentence of some length with function words."""
    for token in tokens:
        if token == _COLON_IS:
            if not in_list:
                return True
        elif token in _CLAIM_WORDS or token in _CLAIM_MARKS:
            return True
    words_here = [t for t in tokens if _is_word(t)]
    return (
        not in_list
        and len(words_here) >= _PROSE_WORDS
        and any(t in _FUNCTION_WORDS for t in words_here)
    )


@dataclass(frozen=True)
class Match:
    start: int
    end: int  # one past the last word
    negated: bool
    claim: bool


def find(sentence: Sentence, phrase_words: Sequence[str]) -> list[Match]:
    """Every place ``phrase_words`` (stems) occurs in ``sentence``."""
    tokens = sentence.tokens
    if not phrase_words:
        return []
    matches: list[Match] = []
    for start, token in enumerate(tokens):
        if _same(token, phrase_words[0]) and not _part_of_a_statement(tokens, start):
            end = _rest(tokens, start, phrase_words)
            if end is not None and not (
                _split_by_without(tokens, start, end, phrase_words)
                or _reason_for_a_denied_comparison(tokens, start)
            ):
                cues = _cues_before(tokens, start) + _cues_in(tokens, start, end, phrase_words)
                cues += _denied_after(tokens, end) + _reported_then_refuted(tokens, start, end)
                negated = cues % 2 == 1
                if negated and _contrast_under_a_condition(tokens, start):
                    continue
                matches.append(Match(start, end, negated, sentence.claim[start]))
    return matches


def _same(token: str, word: str) -> bool:
    return token == word or (token == _COLON_IS and word == "is")


def _rest(tokens: Sequence[str], start: int, phrase_words: Sequence[str]) -> int | None:
    position = start
    for word in phrase_words[1:]:
        for step in range(1, MAX_GAP + 2):
            nxt = position + step
            if nxt >= len(tokens) or _breaks(tokens, nxt) and not _same(tokens[nxt], word):
                return None
            if _same(tokens[nxt], word):
                position = nxt
                break
        else:
            return None
    return position + 1


def _breaks(tokens: Sequence[str], index: int) -> bool:
    """Whether ``tokens[index]`` starts a clause: a comma or a bracket, a conjunction, a word
    that starts a phrase of its own ("during", "when", "for"), "once" starting a condition (not
    "once per step"), or the last word of "as soon as" / "as long as"."""
    token = tokens[index]
    if token in _BREAK_MARKS or token in _BREAK_WORDS:
        return True
    if token == "that" and _called_a_myth(tokens, index) is not None:
        return True  # "the myth is that X": X is a clause of its own
    if token == _ONCE:
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        return _is_word(following) and following not in _ONCE_ADVERBIAL
    return any(
        index >= len(phrase) - 1 and list(tokens[index - len(phrase) + 1 : index + 1]) == phrase
        for phrase in _CONDITION_PHRASES
    )


def _cues_before(tokens: Sequence[str], start: int) -> int:
    if _object_of_an_adjunct(tokens, start):
        return 0
    count = 0
    index = start - 1
    while index >= 0 and not _breaks(tokens, index) and tokens[index] != _COLON_IS:
        pair = (tokens[index - 1], tokens[index]) if index > 0 else None
        if pair in _TOPIC_PAIRS:
            break  # "says nothing about X", "doesn't tell anything about X": X is the topic
        if pair in _BOUNDS:
            return count  # "no more than one block", "never wastes more than X": X is a bound
        near = start - index <= _SHORT_SCOPE
        if pair in _NEGATION_PAIRS or tokens[index] in _SHORT_NEGATIONS:
            count += near  # "instead of X", "without X": only the next few words
        elif tokens[index] in _NEGATIONS and not _not_a_denial(tokens, index):
            count += 1
        index -= 1
    myth = _called_a_myth(tokens, index) if index >= 0 else None
    if myth is not None:  # "it's a myth that X", "a common misconception is that X", "Myth: X"
        count += 1 + _cues_before(tokens, myth)  # "it is not a myth that X" states X
    elif index >= 0 and tokens[index] == _NOR:
        count += 1  # "neither X nor Y", "not X nor Y": "nor" starts a clause and denies it
    elif index >= 1 and tokens[index] == _BECAUSE and tokens[index - 1] in _NEGATIONS:
        count += 1  # "not because of X": the reason X is denied
    return count


def _called_a_myth(tokens: Sequence[str], index: int) -> int | None:
    """Where "myth", "misconception", "fallacy", "false" or "untrue" stands when the "that" at
    ``index`` follows it, directly or across "is", "was", "to think" ...: what follows is called
    wrong ("it's a myth that X", "a common misconception is that X"). A label's colon after
    "myth", "misconception" or "fallacy" does the same ("Myth: X", "Common misconception: X";
    not "That's a myth: X", a verdict on what came before, nor "False: X"). None otherwise."""
    if tokens[index] == "that":
        before = index - 1
        while (
            before >= 0 and index - before <= _MYTH_FILLER_WORDS and tokens[before] in _MYTH_FILLERS
        ):
            before -= 1
        return before if before >= 0 and tokens[before] in _MYTHS else None
    if tokens[index] != ":" or index == 0 or tokens[index - 1] not in _MYTH_LABELS:
        return None
    lead = tokens[:index]  # a label, not a verdict on what came before ("That's a myth:")
    verdict = any(t in _POINTERS or t in _AUXILIARIES or not _is_word(t) for t in lead)
    return None if verdict else index - 1


def _clause_start(tokens: Sequence[str], start: int) -> int:
    """The index of the break (or label colon) that starts the clause of ``tokens[start]``, or
    -1 at the start of the sentence."""
    index = start - 1
    while index >= 0 and not _breaks(tokens, index) and tokens[index] != _COLON_IS:
        index -= 1
    return index


def _reason_for_a_denied_comparison(tokens: Sequence[str], start: int) -> bool:
    """Whether a match is in the reason given for a denied comparison ("it is not faster
    because of fewer FLOPs") or for a claim called a myth ("the myth is that it is faster
    because it does fewer FLOPs"). The first may deny the reason (it is faster, for another
    reason) or give the reason for the negative ("INT8 isn't faster because of the
    dequantization overhead"); the second calls the whole causal claim wrong, not the reason
    on its own. Either way the reason is neither stated nor denied. (A reason in a clause of
    its own, "isn't faster because the KV cache is written in BF16", is stated, as "it is not
    slow because X" states X; "not because X" denies X.)"""
    index = _clause_start(tokens, start)
    if index < 1 or tokens[index] != _BECAUSE:
        return False
    predicate = index - 1
    if not _is_word(tokens[predicate]) or tokens[predicate] in _NEGATIONS:
        return False
    if _cues_before(tokens, predicate) % 2 == 0:
        return False  # "it is faster because of fewer bytes" states its reason
    clause = _clause_start(tokens, predicate)
    if clause >= 0 and _called_a_myth(tokens, clause) is not None:
        return True
    comparative = tokens[predicate] in _COMPARATIVES or (
        predicate >= 1 and tokens[predicate - 1] in _MORE_OR_LESS
    )
    return comparative and list(tokens[index + 1 : index + 2]) == ["of"]


def _contrast_under_a_condition(tokens: Sequence[str], start: int) -> bool:
    """Whether a match is the X of a contrast ", not X" (or "and not X", "but not X") after a
    claim made under a condition: the object of "at", or a clause opened by "when", "once",
    "beyond", "until", "if" ... ("at large batch the step is compute bound, not memory
    bound"). The contrast inherits the condition, so X is denied only there: not a denial of
    X as such. ("In decode", "for long prompts" name a scope, often the point's own: "in
    decode the step is compute bound, not memory bound" does deny it.)"""
    clause = _clause_start(tokens, start)
    if clause < 1 or tokens[clause] not in _CONTRAST_STARTS:
        return False
    if tokens[clause + 1] != "not" or clause + 2 != start:
        return False
    begin = clause - 1
    while begin >= 0 and tokens[begin] not in _STATEMENT_ENDS:
        begin -= 1
    return _has_a_condition(tokens[begin + 1 : clause])


def _has_a_condition(tokens: Sequence[str]) -> bool:
    """Whether ``tokens`` hold the object of "at" ("at large batch"; not "at least", "look
    at") or a clause opened by a condition word ("when", "once" ...)."""
    return any(
        (
            token == _AT
            and _at_a_condition(tokens, i)
            and i + 1 < len(tokens)
            and tokens[i + 1] not in _AT_IDIOMS
        )
        or (token in _CONDITIONS and _breaks(tokens, i))
        for i, token in enumerate(tokens)
    )


def _object_of_an_adjunct(tokens: Sequence[str], start: int) -> bool:
    """Whether a match is the object of "at" ("doesn't help at high batch"), or of a
    preposition after "worth it" or "bother" ("not worth it in small deployments", "wouldn't
    bother with short prompts"): a condition on the denied predicate, not denied itself."""
    if start >= 1 and tokens[start - 1] == _AT:
        return _at_a_condition(tokens, start - 1)
    before = ["", "", "", *tokens[max(0, start - 3) : start]][-3:]
    return before[2] in _ADJUNCTS and (before[1] == _BOTHER or before[:2] == [_WORTH, "it"])


def _at_a_condition(tokens: Sequence[str], index: int) -> bool:
    """Whether the "at" at ``index`` opens a condition ("at high batch"), not the object of a
    verb of looking ("doesn't look at the p99" does deny the p99)."""
    return index == 0 or tokens[index - 1] not in _LOOKS


def _denied_after(tokens: Sequence[str], end: int) -> int:
    """1 when the words after a match deny it: "the KV transfer isn't needed", "X doesn't
    matter", "X is unnecessary"."""
    after = list(tokens[end : end + 3])
    if after[:1] and after[0] in _AUXILIARIES:
        after = after[1:]
    if after[:1] == ["not"] and len(after) > 1 and after[1] in _DISMISSALS:
        return 1
    return int(bool(after[:1]) and after[0] in _DISMISSIVE)


def _split_by_without(
    tokens: Sequence[str], start: int, end: int, phrase_words: Sequence[str]
) -> bool:
    """ "A finished model without training it again" does not state "finished training", nor
    deny it: "without" (or "unlike") in a phrase's gap starts a phrase of its own."""
    return any(t in _SHORT_NEGATIONS and t not in phrase_words for t in tokens[start:end])


def _part_of_a_statement(tokens: Sequence[str], start: int) -> bool:
    """ "The second half of the statement is right": what is said of part of a statement is not
    said of the statement ("statement is right"). (Of other things it is: "half of the memory"
    still names memory.)"""
    return (
        start >= 2
        and tokens[start] in _STATEMENTS
        and tokens[start - 1] == "of"
        and tokens[start - 2] in _PARTS
    )


def _reported_then_refuted(tokens: Sequence[str], start: int, end: int) -> int:
    """1 for a claim the answer reports and then refutes in the same sentence: "the colleague
    claims TPOT doubles; that is wrong", "some think it caches the outputs, but it does not",
    "people say X, which is false" deny X ("people say X, and they are right" does not)."""
    index = start - 1
    while index >= 0 and not _breaks(tokens, index) and tokens[index] not in _REPORTING:
        index -= 1
    if index < 0 or tokens[index] not in _REPORTING:
        return 0
    for after in range(end, len(tokens)):  # up to the next comma or semicolon
        if tokens[after] in _LIST_MARKS:
            return int(_refutes(tokens[after + 1 :], whole=False))
        if tokens[after] in _VERDICT_STARTS and _refutes(tokens[after:], whole=False):
            return 1
    return 0


def _refutes(tokens: Sequence[str], *, whole: bool = True) -> bool:
    """Whether ``tokens`` begin with (``whole``: are) "that is wrong", "which is false", "and it
    is not true", "they're mistaken", "that's a myth", or a bare "it isn't" / "but it does
    not" (a pronoun and an auxiliary, then "not" and the end of the clause)."""
    verdict = list(tokens)
    while verdict[:1] and not _is_word(verdict[0]):
        verdict = verdict[1:]
    skipped: list[bool] = []
    for skippable in ({"and", "but"}, _POINTERS, _REFUTING_AUXILIARIES):
        skipped.append(bool(verdict[:1]) and verdict[0] in skippable)
        verdict = verdict[skipped[-1] :]
    if verdict[:1] and verdict[0] in _REFUTATIONS:
        rest = verdict[1:]
    elif verdict[:2] == ["not", _TRUE]:
        rest = verdict[2:]
    elif verdict[:1] == ["not"] and all(skipped[1:]):
        rest = verdict[1:]  # "it isn't", "it doesn't", "that's not so", "it isn't the case"
        if rest[:1] and rest[0] in _NOT_SO:
            rest = rest[1:]
        elif rest[:1] and _is_word(rest[0]):
            return False  # "it doesn't help prefill" says something else
    else:
        return False
    return not (whole and any(_is_word(t) for t in rest))


def _not_a_denial(tokens: Sequence[str], index: int) -> bool:
    """ "not only", "not just", "no matter": a negation word that denies nothing."""
    following = tokens[index + 1] if index + 1 < len(tokens) else ""
    return following in _NOT_DENIALS


def _cues_in(tokens: Sequence[str], start: int, end: int, phrase_words: Sequence[str]) -> int:
    extra = [t for t in tokens[start:end] if t in _NEGATIONS and t not in phrase_words]
    return len(extra)
