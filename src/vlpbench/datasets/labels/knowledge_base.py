"""The report converter's expert knowledge as data: one YAML file per language (knowledge/*.yaml).

A `KnowledgeBase` holds the 33 categories (canonical term, synonyms, abbreviations), the cue
words (negation, uncertainty, advice, …), the phrase delimiters and the expert rules (numeric
thresholds, DR stages). Adapting the converter to a new institution means editing YAML only.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import yaml

from vlpbench.core.errors import VlpbenchError

CATEGORY_KEYS: tuple[str, ...] = (
    "normal", "dr", "arteriosclerosis", "cataract", "glaucoma", "amd", "pathologic_myopia", "rvo",
    "hemorrhage", "microaneurysm", "hard_exudate", "cotton_wool_spot", "neovascularization",
    "laser_spots", "macular_edema", "drusen", "macular_pucker", "macular_hole", "large_optic_cup",
    "thin_arteries", "av_nicking", "tessellation", "peripapillary_atrophy", "chorioretinal_atrophy",
    "rnfl_defect", "optic_disc_edema", "optic_disc_pallor", "pigment_disorder", "vitreous_opacity",
    "retinal_detachment", "myelinated_fibers", "fibrous_proliferation", "others",
)
KNOWLEDGE_DIR = Path(__file__).with_name("knowledge")
CUE_KINDS = ("negation", "negation_after", "uncertainty", "scope_end", "coordinators", "advice",
             "comparator_greater", "comparator_less")


def normalise(text: str) -> str:
    """The form every comparison uses: NFKC (full-width → half-width, Ⅳ → IV), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def parse_ratio(text: str) -> Fraction:
    """'0.5' → 1/2, '2:3' or '2/3' → 2/3, '1:1.5' → 2/3 (exact, so thresholds are strict)."""
    head, sep, tail = text.replace("/", ":").partition(":")
    value = Fraction(head.strip())
    return value / Fraction(tail.strip()) if sep else value


@dataclass(frozen=True)
class Category:
    """One label column: canonical term (zero-shot prompts), synonyms, abbreviations."""

    key: str
    term: str
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    rare_findings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # `others` only

    def finding_terms(self) -> tuple[str, ...]:
        """Everything that names this category in a report (the `others` term itself never does)."""
        own = () if self.key == "others" else (self.term,)
        rare = tuple(t for terms in self.rare_findings.values() for t in terms)
        return own + self.synonyms + rare


@dataclass(frozen=True)
class MeasurementRule:
    """A number after `term` decides `category`: value `comparison` `threshold` (strict)."""

    name: str
    term: str
    aliases: tuple[str, ...]
    category: str
    comparison: str  # ">" or "<"
    threshold: Fraction

    def fires(self, value: Fraction, stated: str | None = None) -> bool:
        """Whether the measured value implies the category; `stated` is '>' or '<' when the
        report gives a bound ("杯盘比>0.5") rather than a value."""
        if stated is None:
            return value > self.threshold if self.comparison == ">" else value < self.threshold
        if stated != self.comparison:
            return False
        return value >= self.threshold if stated == ">" else value <= self.threshold


@dataclass(frozen=True)
class StageRule:
    """DR stage (Chinese 6-stage scale): any stage ⇒ `category`; `implies[k]` = lowest stage ⇒ k."""

    category: str
    before_number: tuple[str, ...]
    after_number: tuple[str, ...]
    roman_numerals: Mapping[str, int]
    max_stage: int
    implies: Mapping[str, int]

    def keys_for(self, stage: int) -> tuple[str, ...]:
        return (self.category,) + tuple(k for k, lowest in self.implies.items() if stage >= lowest)


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """Categories (in CATEGORY_KEYS order), cue words, delimiters and expert rules of one language."""

    language: str
    source: Path
    categories: tuple[Category, ...]
    cues: Mapping[str, tuple[str, ...]]
    sentence_delimiters: tuple[str, ...]
    phrase_delimiters: tuple[str, ...]
    measurements: tuple[MeasurementRule, ...]
    dr_stage: StageRule
    ratio_separators: tuple[str, ...] = (":", "/")
    plural_suffixes: tuple[str, ...] = ()
    #: phrase delimiters that only separate listed items (、): a negation always continues across
    #: them; across the others (，) only while its list is still open (see the converter)
    list_delimiters: tuple[str, ...] = ("、",)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.categories)

    @property
    def others_index(self) -> int:
        return self.index("others")

    def index(self, key: str) -> int:
        return self.keys.index(key)

    def category(self, key: str) -> Category:
        return self.categories[self.index(key)]

    def term(self, key: str) -> str:
        """The canonical medical term of a category (what zero-shot prompts use)."""
        if key not in self.keys:
            raise VlpbenchError(f"{self.source}: no category '{key}' (has: {', '.join(self.keys)})")
        return self.category(key).term

    def surface_forms(self) -> list[str]:
        """Every way the knowledge base writes a finding: canonical terms, synonyms, abbreviations
        and the rare `others` terms (a term-aware tokenizer keeps each one whole)."""
        forms = [form for c in self.categories for form in (c.term, *c.synonyms, *c.abbreviations)]
        forms += [term for terms in self.category("others").rare_findings.values() for term in terms]
        return list(dict.fromkeys(forms))

    @property
    def rare_ids(self) -> tuple[str, ...]:
        return tuple(self.category("others").rare_findings)

    def rare_terms(self, rare_id: str) -> tuple[str, ...]:
        """The terms for one rare `others` finding (ids are shared by all languages)."""
        terms = self.category("others").rare_findings.get(rare_id)
        if not terms:
            raise VlpbenchError(f"{self.source}: field 'others.rare_findings' has no '{rare_id}'")
        return terms


def load_knowledge_base(lang_or_path: str | Path = "zh") -> KnowledgeBase:
    """The knowledge base of a packaged language ("zh", "en") or of a YAML file (cached until
    the file changes)."""
    text = str(lang_or_path)
    if isinstance(lang_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser().resolve()
    else:
        path = KNOWLEDGE_DIR / f"{text}.yaml"
        if not path.is_file():
            have = ", ".join(sorted(p.stem for p in KNOWLEDGE_DIR.glob("*.yaml")))
            raise VlpbenchError(f"unknown knowledge-base language '{text}' (available: {have})")
    try:
        modified = path.stat().st_mtime_ns
    except OSError as exc:
        raise VlpbenchError(f"{path}: cannot read knowledge base ({exc.strerror or exc})") from None
    return _load(path, modified)


@functools.lru_cache(maxsize=None)
def _load(path: Path, modified: int) -> KnowledgeBase:
    """Parse and check one YAML file (cached per path and modification time)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VlpbenchError(f"{path}: cannot read knowledge base ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise VlpbenchError(f"{path}: knowledge base is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
                            f"at offset {exc.start})") from None
    except yaml.YAMLError as exc:
        raise VlpbenchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    reader = _Reader(path)
    data = reader.mapping(data, "(top level)")
    kb = KnowledgeBase(
        language=reader.string(data, "language"),
        source=path,
        categories=_categories(reader, data),
        cues={kind: reader.strings(reader.mapping(data.get("cues"), "cues"), kind, f"cues.{kind}")
              for kind in CUE_KINDS},
        sentence_delimiters=reader.strings(reader.mapping(data.get("splitting"), "splitting"),
                                           "sentence", "splitting.sentence"),
        phrase_delimiters=reader.strings(data["splitting"], "phrase", "splitting.phrase"),
        measurements=_measurements(reader, data),
        dr_stage=_stage_rule(reader, data),
        ratio_separators=reader.strings(data["rules"], "ratio_separators", "rules.ratio_separators"),
        plural_suffixes=reader.strings(data, "plural_suffixes", optional=True),
        list_delimiters=_list_delimiters(reader, data["splitting"]),
    )
    _check_unique(kb)
    return kb


class _Reader:
    """Typed access to the parsed YAML; every failure names the file and the field."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, expected: str) -> VlpbenchError:
        return VlpbenchError(f"{self.path}: field '{where}' must be {expected}")

    def mapping(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, "a mapping")
        return value

    def string(self, data: dict, key: str, where: str | None = None) -> str:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where or key, "a non-empty string")
        return value

    def strings(self, data: dict, key: str, where: str | None = None,
                optional: bool = False) -> tuple[str, ...]:
        value = data.get(key)
        if value is None and optional:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where or key, "a list of non-empty strings (quote words YAML reads "
                                          "as booleans: \"no\", \"yes\", \"on\", \"off\")")
        return tuple(value)


def _list_delimiters(reader: _Reader, splitting: dict) -> tuple[str, ...]:
    """`splitting.list` (default 、), each one of the phrase delimiters."""
    listed = reader.strings(splitting, "list", "splitting.list", optional=True) or ("、",)
    phrase = reader.strings(splitting, "phrase", "splitting.phrase")
    if "list" in splitting and not set(listed) <= set(phrase):
        raise reader.fail("splitting.list", "a list of phrase delimiters (from 'splitting.phrase')")
    return tuple(d for d in listed if d in phrase)


def _categories(reader: _Reader, data: dict) -> tuple[Category, ...]:
    items = data.get("categories")
    if not isinstance(items, list):
        raise reader.fail("categories", "a list of the 33 categories")
    keys = tuple(item.get("key") if isinstance(item, dict) else None for item in items)
    if keys != CATEGORY_KEYS:
        raise reader.fail("categories", f"the 33 categories in this order: {', '.join(CATEGORY_KEYS)}")
    categories = []
    for item, key in zip(items, keys):
        rare = reader.mapping(item.get("rare_findings") or {}, f"{key}.rare_findings")
        if rare and key != "others":
            raise reader.fail(f"{key}.rare_findings", "absent (only 'others' has rare findings)")
        categories.append(Category(
            key=key,
            term=reader.string(item, "term", f"{key}.term"),
            synonyms=reader.strings(item, "synonyms", f"{key}.synonyms", optional=True),
            abbreviations=reader.strings(item, "abbreviations", f"{key}.abbreviations", optional=True),
            rare_findings={rid: reader.strings(rare, rid, f"others.rare_findings.{rid}") for rid in rare},
        ))
    return tuple(categories)


def _measurements(reader: _Reader, data: dict) -> tuple[MeasurementRule, ...]:
    rules = reader.mapping(data.get("rules"), "rules")
    items = rules.get("measurements")
    if not isinstance(items, list):
        raise reader.fail("rules.measurements", "a list")
    out = []
    for i, item in enumerate(items):
        where = f"rules.measurements[{i}]"
        item = reader.mapping(item, where)
        category = reader.string(item, "category", f"{where}.category")
        if category not in CATEGORY_KEYS:
            raise reader.fail(f"{where}.category", "one of the category keys")
        when = reader.string(item, "positive_when", f"{where}.positive_when").strip()
        try:
            comparison, threshold = when[0], parse_ratio(when[1:])
            if comparison not in "<>":
                raise ValueError(when)
        except (ValueError, ZeroDivisionError):
            raise reader.fail(f"{where}.positive_when", "'> number' or '< a:b'") from None
        out.append(MeasurementRule(
            name=reader.string(item, "name", f"{where}.name"),
            term=reader.string(item, "term", f"{where}.term"),
            aliases=reader.strings(item, "aliases", f"{where}.aliases", optional=True),
            category=category, comparison=comparison, threshold=threshold,
        ))
    return tuple(out)


def _stage_rule(reader: _Reader, data: dict) -> StageRule:
    where = "rules.dr_stage"
    item = reader.mapping(data["rules"].get("dr_stage"), where)
    category = reader.string(item, "category", f"{where}.category")
    implies = reader.mapping(item.get("implies") or {}, f"{where}.implies")
    roman = reader.mapping(item.get("roman_numerals"), f"{where}.roman_numerals")
    max_stage = item.get("max_stage")
    if not isinstance(max_stage, int) or not 1 <= max_stage <= 9:
        raise reader.fail(f"{where}.max_stage", "an integer 1..9")
    for name, table in (("implies", implies), ("roman_numerals", roman)):
        for key, stage in table.items():
            if not isinstance(stage, int) or not 1 <= stage <= max_stage:
                raise reader.fail(f"{where}.{name}.{key}", f"a stage 1..{max_stage}")
    for key in (category, *implies):
        if key not in CATEGORY_KEYS:
            raise reader.fail(where, f"naming category keys ('{key}' is not one)")
    return StageRule(
        category=category,
        before_number=reader.strings(item, "before_number", f"{where}.before_number", optional=True),
        after_number=reader.strings(item, "after_number", f"{where}.after_number", optional=True),
        roman_numerals={str(k): v for k, v in roman.items()},
        max_stage=max_stage,
        implies=dict(implies),
    )


def _check_unique(kb: KnowledgeBase) -> None:
    """A word may mean one thing only: a finding of one category, one kind of cue, one alias."""
    owner: dict[str, str] = {}
    entries = [(c.key, t) for c in kb.categories for t in c.finding_terms() + c.abbreviations]
    entries += [(f"cues.{kind}", t) for kind, words in kb.cues.items() if not kind.startswith("comparator")
                for t in words]
    entries += [(f"rules.{m.name}", t) for m in kb.measurements for t in (m.term, *m.aliases)]
    for where, text in entries:
        word = normalise(text).strip()
        if owner.setdefault(word, where) != where:
            raise VlpbenchError(f"{kb.source}: '{text}' is listed under both '{owner[word]}' and '{where}'")
