"""Expert-knowledge report converter G_EK (ViLReF §III-A, Fig. 2c): report → 33-dim multi-hot labels.

Pipeline, all driven by the knowledge base (knowledge/*.yaml):
1. standardise — NFKC (full-width → half-width, Ⅳ → IV), lower case; abbreviations and
   measurement aliases stand for their full terms (糖网 → 糖尿病视网膜病变, C/D → 杯盘比) and
   DR-stage numerals for Arabic ones (糖网Ⅳ期 → 糖尿病视网膜病变4期); `standardise()` shows it;
2. split into sentences (。;\\n, "." not between digits) and phrases (, 、);
3. advice: from an advice cue to the end of its phrase is dropped (建议FFA检查排除新生血管 adds nothing);
4. findings and cues, longest match first; a negation cue negates the findings after it in its
   phrase up to a scope end (但, 可见, an uncertainty cue …), a post-negation cue (均未见, (-))
   those before it; a phrase that is only a list of findings takes the negation of the
   neighbouring phrase it continues, within the clause: across 、 always (未见出血、渗出 ⇒
   neither), across ，only while the list is still open, i.e. its closing coordinator (及, 和,
   或; 均未见 backwards) is still to come (未见出血，渗出及新生血管 ⇒ none of them), while a
   single finding after ，starts a new finding (未见出血，渗出 ⇒ 渗出); a sentence end (。；)
   ends every scope; suspected findings (疑似, 可疑, ?) count as positive;
5. expert rules: measurement thresholds (杯盘比 > 0.5 ⇒ large_optic_cup, 动静脉比 < 2:3 ⇒
   thin_arteries; measurements are facts and are never negated; a value that cannot be read,
   such as 1:0 or a number too long to convert, makes its phrase unmapped, never an error) and
   DR stages (any ⇒ dr, ≥ IV ⇒ neovascularization, ≥ V ⇒ fibrous_proliferation, VI ⇒
   retinal_detachment);
6. union over phrases; `normal` exactly when something was recognised and nothing abnormal was
   (a report that only says 未见出血 is normal); nothing recognised at all ⇒ zero vector.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable

import numpy as np

from vlpbench.core.console import printable
from vlpbench.datasets.labels.knowledge_base import KnowledgeBase, load_knowledge_base, normalise

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_FILLER = re.compile(r"[\W_]*")          # punctuation and spaces between listed findings
_CONTENT = re.compile(r"[^\W\d_]")       # a letter or CJK character: the phrase says something
_STOPS = frozenset(("scope_end", "uncertainty"))  # cue kinds that end a negation's scope
_LIST_KINDS = frozenset(("finding", "coordinators"))
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"


def trie_pattern(words: Iterable[str], guards: dict[str, str] | None = None) -> str:
    """A regex matching any of `words` (leftmost-longest), built as a character trie so that
    hundreds of terms cost one pass. Words beginning/ending with an ASCII letter match only as
    whole words (DR never matches inside "drusen"); `guards` adds an assertion after a first
    character. Every branch starts with a literal, so the regex engine skips other positions."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    guards = dict(guards or {})
    guards.update((ch, "(?<![a-z].)" + guards.get(ch, "")) for ch in _LETTERS)

    def build(node: dict, last: str, root: bool = False) -> str:
        alts = [re.escape(ch) + (guards.get(ch, "") if root else "") + build(child, ch)
                for ch, child in sorted(node.items()) if ch]
        if "" in node:  # a word ends here; longer words are tried first
            alts.append("(?![a-z])" if last in _LETTERS else "")
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return build(trie, "", root=True) if trie else "(?!)"


@dataclass
class UnmappedStats:
    """What the converter could not map: phrases with no known finding, reports with none at all."""

    reports: int = 0
    empty_reports: int = 0  # nothing recognised: zero label vector
    phrases: int = 0
    unmapped_phrases: int = 0
    counter: Counter = field(default_factory=Counter)

    @property
    def unmapped_rate(self) -> float:
        return self.unmapped_phrases / self.phrases if self.phrases else 0.0

    def most_common(self, n: int = 10) -> list[tuple[str, int]]:
        return self.counter.most_common(n)

    def summary(self, n: int = 5) -> str:
        """Two lines for the CLI: the counts, then the most frequent unmapped phrases."""
        common = ", ".join(f"{printable(text)} ×{count}" for text, count in self.most_common(n)) or "none"
        return (f"{self.reports} reports, {self.empty_reports} with no recognised finding; "
                f"{self.phrases} phrases, {self.unmapped_phrases} unmapped ({100 * self.unmapped_rate:.1f} %)\n"
                f"most frequent unmapped: {common}")


class _Phrase:
    """One phrase of a report: its items in text order and the negation neighbours may inherit."""

    __slots__ = ("sentence", "start", "end", "items", "spans", "listy", "advice", "cues", "negated",
                 "open_end", "open_start", "list_joined", "coordinated")

    def __init__(self, sentence: int, start: int, list_joined: bool = False):
        self.sentence, self.start, self.end = sentence, start, start
        self.items: list[tuple[str, tuple[str, ...], bool]] = []  # (kind, keys, negatable)
        self.spans: list[int] = []  # start, end of every listed finding / coordinator
        self.listy = True    # so far only findings and coordinators
        self.advice = False  # an advice cue was met: the rest of the phrase is dropped
        self.cues = False    # a negation cue was met
        self.negated: list[bool] | None = None  # None: nothing negated
        self.open_end = self.open_start = False
        self.list_joined = list_joined  # the delimiter before it only separates listed items (、)
        self.coordinated = False  # holds a coordinator (及, 和, or) or a plural post-negation (均未见)

    def add(self, kind: str, keys: tuple[str, ...], negatable: bool, start: int = -1, end: int = -1) -> None:
        self.items.append((kind, keys, negatable))
        if kind in _LIST_KINDS and start >= 0:
            self.spans += (start, end)
        else:
            self.listy = False
            self.cues = self.cues or kind == "negation" or kind == "negation_after"
        self.coordinated = self.coordinated or kind == "coordinators"

    def close(self, end: int) -> None:
        if not self.advice:
            self.end = end
        if self.cues:
            self.negated = [False] * len(self.items)
            self.open_end = self._scan(range(len(self.items)), "negation") and not self.advice
            self.open_start = self._scan(range(len(self.items) - 1, -1, -1), "negation_after") and not self.advice

    def is_bare(self, text: str) -> bool:
        """Only a list of findings (渗出及新生血管), separated by coordinators and punctuation."""
        if not self.listy or not any(kind == "finding" for kind, _, _ in self.items):
            return False
        edges = [self.start, *self.spans, self.end]
        return all(_FILLER.fullmatch(text, a, b) for a, b in zip(edges[::2], edges[1::2]))

    def negate_all(self) -> None:
        self.negated = [True] * len(self.items)

    def _scan(self, order: range, cue: str) -> bool:
        """Walk the items; `cue` opens a negation scope, scope ends close it. Open at the end?"""
        active = False
        for i in order:
            kind, _, negatable = self.items[i]
            if kind == cue:
                active = True
            elif kind in _STOPS:
                active = False
            elif active and negatable:
                self.negated[i] = True
        return active


class ReportConverter:
    """Converts diagnostic reports to multi-hot label vectors in knowledge-base order."""

    def __init__(self, kb: KnowledgeBase | None = None):
        self.kb = kb = kb or load_knowledge_base("zh")
        self._index = {key: i for i, key in enumerate(kb.keys)}
        # normalised word → (kind, payload, full term it stands for or None)
        self._lexicon: dict[str, tuple[str, object, str | None]] = {}
        for kind, words in kb.cues.items():
            if not kind.startswith("comparator"):
                self._lexicon.update((normalise(w).strip(), (kind, None, None)) for w in words)
        for i, rule in enumerate(kb.measurements):
            term = normalise(rule.term)
            self._lexicon.update((normalise(a).strip(), ("measure", i, term)) for a in rule.aliases)
            self._lexicon[term] = ("measure", i, None)
        for category in kb.categories:
            full = normalise(category.term)
            if category.key != "others":
                self._lexicon.update((normalise(a).strip(), ("finding", category.key, full))
                                     for a in category.abbreviations)
            for term in category.finding_terms():
                word = normalise(term).strip()
                self._lexicon[word] = ("finding", category.key, None)
                if word[-1] in _LETTERS:
                    for suffix in kb.plural_suffixes:
                        self._lexicon.setdefault(word + normalise(suffix), ("finding", category.key, None))
        for kind in ("sentence", "phrase"):
            delimiters = kb.sentence_delimiters if kind == "sentence" else kb.phrase_delimiters
            self._lexicon.update((normalise(d), (kind, None, None)) for d in delimiters)
        self._list_delimiters = frozenset(normalise(d) for d in kb.list_delimiters)
        # post-negation cues that say "all of them" (均未见 starts with the coordinator 均)
        coordinators = [normalise(c).strip() for c in kb.cues["coordinators"]]
        self._plural_cues = frozenset(
            word for word in (normalise(w).strip() for w in kb.cues["negation_after"])
            if any(word.startswith(c) and word != c and not (c[-1] in _LETTERS and word[len(c)] in _LETTERS)
                   for c in coordinators))
        # "." ends a sentence unless it sits between two digits (0.5)
        self._token_re = re.compile(trie_pattern(self._lexicon, {".": r"(?!(?<=\d\.)\d)"}))
        comparators = {">": kb.cues["comparator_greater"], "<": kb.cues["comparator_less"]}
        self._comparators = {normalise(w): sign for sign, words in comparators.items() for w in words}
        self._comparator_re = re.compile(trie_pattern(self._comparators))
        stops = re.escape("".join({ch for d in (*kb.sentence_delimiters, *kb.phrase_delimiters) for ch in d}))
        seps = "|".join(re.escape(normalise(s)) for s in kb.ratio_separators)
        self._value_re = re.compile(f"(?P<fill>[^\\d{stops}]{{0,24}}?)(?P<a>{_NUMBER})"
                                    f"(?:\\s*(?:{seps})\\s*(?P<b>{_NUMBER}))?(?![\\d.]?\\d)")
        self._digit_re = re.compile(f"[^\\d{stops}]{{0,24}}?\\d")  # a number follows the term
        self._stage_after, self._stage_before = self._stage_patterns()
        self._roman = {normalise(k): v for k, v in kb.dr_stage.roman_numerals.items()}

    # --- public API -------------------------------------------------------------------------

    def standardise(self, text: str) -> str:
        """The normalised report with abbreviations, measurement aliases and DR-stage numerals
        rewritten to full terms and Arabic numerals (what the extraction step reads)."""
        norm = normalise(text)
        edits = []  # (start, end, replacement)
        for m in self._token_re.finditer(norm):
            _, key, full = self._lexicon[m.group()]
            if full:
                edits.append((m.start(), m.end(), full))
            stage = self._stage(norm, m.start(), m.end()) if key == self.kb.dr_stage.category else None
            if stage:
                edits.append((stage[1], stage[2], str(stage[0])))
        pieces, pos = [], 0
        for start, end, replacement in sorted(edits):
            if start < pos:  # one numeral read for two DR terms
                continue
            pieces += [norm[pos:start], replacement]
            pos = end
        return "".join(pieces) + norm[pos:]

    def positive_keys(self, text: str) -> list[str]:
        """The positive category keys of one report, in knowledge-base order."""
        found = self._analyse(text)[0]
        return [k for k in self.kb.keys if k in found]

    def convert(self, text: str) -> np.ndarray:
        """One report → (33,) uint8 multi-hot vector."""
        out = np.zeros(len(self._index), dtype=np.uint8)
        out[[self._index[k] for k in self._analyse(text)[0]]] = 1
        return out

    def convert_many(self, texts: Iterable[str]) -> tuple[np.ndarray, UnmappedStats]:
        """Reports → ((n, 33) uint8 labels, statistics of what could not be mapped)."""
        stats = UnmappedStats()
        rows, cols = [], []
        for row, text in enumerate(texts):
            found, phrases, unmapped = self._analyse(text)
            rows += [row] * len(found)
            cols += [self._index[k] for k in found]
            stats.reports += 1
            stats.empty_reports += not found
            stats.phrases += phrases
            stats.unmapped_phrases += len(unmapped)
            stats.counter.update(unmapped)
        labels = np.zeros((stats.reports, len(self._index)), dtype=np.uint8)
        labels[rows, cols] = 1
        return labels, stats

    # --- pipeline ---------------------------------------------------------------------------

    def _analyse(self, text: str) -> tuple[set[str], int, list[str]]:
        """Positive keys (`normal` logic applied), the number of phrases that say something,
        and the text of those that mapped to nothing."""
        norm = normalise(text)
        phrases = self._phrases(norm)
        _inherit_negation(phrases, norm)
        found: set[str] = set()
        recognised = False
        counted, unmapped = 0, []
        for phrase in phrases:
            mapped = False
            for i, (kind, keys, _) in enumerate(phrase.items):
                if kind == "finding" or kind == "measure":
                    mapped = True
                    if phrase.negated is None or not phrase.negated[i]:
                        found.update(keys)
            if mapped:
                counted += 1
                recognised = True
            else:
                body = norm[phrase.start:phrase.end].strip()
                if _CONTENT.search(body):
                    counted += 1
                    unmapped.append(body)
        abnormal = found - {"normal"}
        return (abnormal or ({"normal"} if recognised else set())), counted, unmapped

    def _phrases(self, norm: str) -> list[_Phrase]:
        phrase = _Phrase(0, 0)
        phrases = [phrase]
        stage_category = self.kb.dr_stage.category
        for m in self._token_re.finditer(norm):
            start, end = m.span()
            kind, key, _ = self._lexicon[m.group()]
            if kind == "sentence" or kind == "phrase":
                phrase.close(start)
                phrase = _Phrase(phrase.sentence + (kind == "sentence"), end, m.group() in self._list_delimiters)
                phrases.append(phrase)
            elif phrase.advice:
                continue
            elif kind == "advice":
                phrase.advice = True
                phrase.end = start
            elif kind == "finding":
                phrase.add(kind, (key,), True, start, end)
                stage = self._stage(norm, start, end) if key == stage_category else None
                if stage:  # a staged diagnosis is a statement, never part of a bare list
                    phrase.add(kind, self.kb.dr_stage.keys_for(stage[0]), True)
            elif kind == "measure":  # a measurement is a fact: never negated
                implied = self._measurement(norm, end, key)
                # a value that cannot be read (1:0, too many digits) maps nothing: an unmapped phrase
                phrase.add(kind if implied is not None else "unreadable", implied or (), False)
            else:
                phrase.add(kind, (), False, start, end)
                if kind == "negation_after" and m.group() in self._plural_cues:
                    phrase.coordinated = True
        phrase.close(len(norm))
        return phrases

    # --- expert rules -----------------------------------------------------------------------

    def _measurement(self, norm: str, end: int, rule_index: int) -> tuple[str, ...] | None:
        """The category a measurement right after a measurement term implies, if any; None when
        a value is there but cannot be read (0.6.7, a zero denominator, a number too long to convert)."""
        m = self._value_re.match(norm, end)
        if not m:  # no value (杯盘比扩大 …), or digits that do not form one (0.6.7)
            return None if self._digit_re.match(norm, end) else ()
        rule = self.kb.measurements[rule_index]
        try:
            value = Fraction(m["a"]) / (Fraction(m["b"]) if m["b"] else 1)
        except (ArithmeticError, ValueError):  # 1:0, 0/0; int() refuses over 4,300 digits
            return None
        stated = self._comparator_re.search(m["fill"])
        return (rule.category,) if rule.fires(value, self._comparators[stated.group()] if stated else None) else ()

    def _stage(self, norm: str, start: int, end: int) -> tuple[int, int, int] | None:
        """(stage, numeral start, numeral end) of a DR stage written after or before a DR term."""
        m = self._stage_after.match(norm, end)
        if m is None and self._stage_before is not None:
            m = self._stage_before.search(norm, max(0, start - 24), start)
        if m is None:
            return None
        group = next(g for g, value in m.groupdict().items() if value)
        numeral = m[group]
        return self._roman.get(numeral) or int(numeral), m.start(group), m.end(group)

    def _stage_patterns(self) -> tuple[re.Pattern, re.Pattern | None]:
        """DR stage next to a DR term: after it (DR IV, DR 3期, DR stage 4) or before it
        (IV期糖尿病视网膜病变, stage 4 DR). An Arabic number needs a stage word (期, stage) so that
        "DR 4 years" is no stage; a Roman numeral stands alone."""
        rule = self.kb.dr_stage
        roman = "|".join(re.escape(r) for r in sorted((normalise(r) for r in rule.roman_numerals),
                                                      key=len, reverse=True))
        roman = f"(?<![a-z])(?:{roman})(?![a-z])"
        any_number = f"{roman}|(?<![\\d.])[1-{rule.max_stage}](?![\\d.]?\\d)"
        before = trie_pattern(normalise(w) for w in rule.before_number) if rule.before_number else ""
        after = trie_pattern(normalise(w) for w in rule.after_number) if rule.after_number else ""
        opt_after = f"\\s*(?:{after})?" if after else ""

        def with_stage_word(prefix: str) -> list[str]:
            return ([f"(?:{before})[\\s:=]*(?P<{prefix}0>{any_number}){opt_after}"] if before else []) + \
                   ([f"(?P<{prefix}1>{any_number})\\s*(?:{after})"] if after else [])

        after_term = "|".join([*with_stage_word("n"), f"(?P<roman>{roman})"])
        leading = with_stage_word("b")
        return (re.compile(f"[\\s(\\[:=]*(?:{after_term})"),
                re.compile(f"(?:{'|'.join(leading)})[\\s)\\]]*\\Z") if leading else None)


def _inherit_negation(phrases: list[_Phrase], text: str) -> None:
    """A bare list of findings continues the negation of the phrase before it (未见出血、渗出)
    or after it (出血、渗出均未见), within one sentence. Across a list delimiter (、) it always
    does; across a clause comma (，) only while the list is still open: its closing coordinator
    (及, 和, or; a plural cue such as 均未见 backwards) lies beyond the comma, so
    未见出血，渗出及新生血管 negates all three, but in 未见出血，渗出 the comma starts a new
    finding. A bare phrase that does not continue the negation ends it."""
    bare = [phrase.is_bare(text) for phrase in phrases]
    count = len(phrases)
    # forward: does a coordinator close the run of bare phrases at or after phrase i?
    closed_ahead = [False] * (count + 1)
    for i in range(count - 1, -1, -1):
        same_run = i + 1 < count and bare[i + 1] and phrases[i + 1].sentence == phrases[i].sentence
        closed_ahead[i] = bare[i] and (phrases[i].coordinated or (same_run and closed_ahead[i + 1]))
    carry = False
    for i, phrase in enumerate(phrases):
        if i == 0 or phrase.sentence != phrases[i - 1].sentence:
            carry = False
        if carry and bare[i]:
            carry = phrase.list_joined or closed_ahead[i]
            if carry:
                phrase.negate_all()
        else:
            carry = phrase.open_end
    # backward: phrase i joins the phrase after it by that phrase's delimiter; the list is closed
    # once a coordinator (or a plural cue) was met between phrase i and the post-negation cue
    carry = closed = False
    for i in range(count - 1, -1, -1):
        phrase = phrases[i]
        if i == count - 1 or phrase.sentence != phrases[i + 1].sentence:
            carry = False
        if carry and bare[i]:
            carry = phrases[i + 1].list_joined or closed
            if carry:
                phrase.negate_all()
                closed = closed or phrase.coordinated
        else:
            carry, closed = phrase.open_start, phrase.coordinated
