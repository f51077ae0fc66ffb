"""Diagnostic reports written from the latent truth of a synthetic eye (zh default, en).

Medical terms come from the knowledge base (canonical terms, synonyms, abbreviations, rare
`others` terms), so the wording varies the way real reports do; measurements agree with the
latent C/D and A:V (杯盘比0.7 / C/D 0.7, 动静脉比1:2 / A:V 1:2); DR stages are written in Arabic,
ASCII-Roman and Ⅰ–Ⅵ numerals; reports carry negated distractors (未见出血及渗出), advice
(建议随诊复查), suspected findings and, now and then, a phrase no converter maps. A finding
implied by a written measurement or DR stage is sometimes left unsaid, as clinicians do.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.knowledge_base import KnowledgeBase, load_knowledge_base
from vlpbench.datasets.synthetic.latent import EyeFindings
from vlpbench.datasets.synthetic.sampler import DR_STAGE_IMPLIES

DISEASES = ("dr", "arteriosclerosis", "cataract", "glaucoma", "amd", "pathologic_myopia", "rvo")
COUNTABLE = ("hemorrhage", "microaneurysm", "hard_exudate", "cotton_wool_spot", "drusen", "laser_spots")
DISTRACTORS = ("hemorrhage", "hard_exudate", "cotton_wool_spot", "neovascularization", "microaneurysm",
               "macular_edema", "retinal_detachment", "drusen", "macular_hole", "vitreous_opacity",
               "optic_disc_edema", "rnfl_defect", "laser_spots", "fibrous_proliferation", "dr", "glaucoma",
               "amd", "rvo")
# structures a normal description may cover, and the findings that rule that description out
STRUCTURES = {
    "disc": ("large_optic_cup", "optic_disc_edema", "optic_disc_pallor", "peripapillary_atrophy", "glaucoma",
             "rnfl_defect", "myelinated_fibers"),
    "retina": ("retinal_detachment", "fibrous_proliferation"),
    "vessels": ("thin_arteries", "av_nicking", "rvo", "arteriosclerosis", "neovascularization"),
    "macula": ("macular_edema", "macular_hole", "macular_pucker", "drusen", "amd", "hard_exudate"),
}
_UPPER_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX")


@dataclass(frozen=True)
class Style:
    """How one language phrases a report: {x} a list, {t} a term, {a} {b} {c} negated terms,
    {n} a DR stage, {v} a C/D value, {r} an A:V ratio."""

    sentence_end: str
    phrase_joiner: str
    list_joiners: tuple[str, ...]  # between items, before the last item
    lesion_sentences: tuple[str, ...]
    modifiers: dict[str, tuple[str, ...]]  # by severity: low, mid, high
    uncertain: tuple[str, ...]
    diagnosis: tuple[str, ...]
    dr_names: tuple[str, ...]
    dr_forms: tuple[str, ...]
    cup_forms: tuple[str, ...]
    av_forms: tuple[str, ...]
    negated_one: tuple[str, ...]
    negated_two: tuple[str, ...]
    negated_three: tuple[str, ...]
    advice: tuple[str, ...]
    normal_statements: tuple[str, ...]
    descriptors: dict[str, tuple[str, ...]]
    noise: tuple[str, ...]
    hazy: tuple[str, ...]
    length_range: tuple[int, int]  # characters; a report's target length is drawn from it whatever it finds


STYLES = {
    "zh": Style(
        sentence_end="。", phrase_joiner="，", list_joiners=("、", "及", "和"),
        lesion_sentences=("可见{x}", "见{x}", "{x}", "后极部可见{x}", "视网膜可见{x}", "眼底可见{x}", "周边部见{x}"),
        modifiers={"low": ("", "少量", "少许"), "mid": ("", "散在", "多处"), "high": ("", "多发", "大量")},
        uncertain=("疑似{t}", "可疑{t}", "{t}?", "考虑{t}", "{t}可能", "{t}待排", "不除外{t}"),
        diagnosis=("诊断：{x}", "{x}", "印象：{x}", "眼底诊断：{x}"),
        dr_names=("糖尿病视网膜病变", "糖尿病性视网膜病变", "糖网", "DR"),
        dr_forms=("{t}{n}期", "{t}（{n}期）", "{t} {n}期", "{n}期{t}"),
        cup_forms=("杯盘比{v}", "杯盘比约{v}", "C/D={v}", "C/D {v}", "CDR约{v}", "C/D约为{v}", "杯盘比：{v}"),
        av_forms=("动静脉比{r}", "动静脉比约{r}", "A:V={r}", "A/V {r}", "AVR {r}", "A:V约{r}", "动静脉比为{r}"),
        negated_one=("未见{a}", "无{a}", "未发现{a}", "未见明显{a}", "{a}(-)", "不伴{a}", "无明显{a}"),
        negated_two=("未见{a}及{b}", "未见{a}、{b}", "{a}、{b}均未见", "无{a}及{b}", "未见明显{a}或{b}",
                     "未见{a}和{b}"),
        negated_three=("未见{a}、{b}及{c}", "未见{a}，{b}及{c}", "{a}、{b}、{c}均未见"),
        advice=("建议随诊复查", "建议定期复查", "请结合临床", "建议FFA检查排除新生血管", "建议OCT检查",
                "必要时行FFA检查", "定期随访", "建议眼科专科就诊", "建议3个月后复查"),
        normal_statements=("眼底未见明显异常", "正常眼底", "眼底正常", "双眼底未见异常", "眼底未见异常"),
        descriptors={"disc": ("视盘边界清，色淡红", "视盘边界清楚", "视盘色可，边界清"),
                     "retina": ("视网膜平伏", "网膜平伏"),
                     "vessels": ("血管走行可", "血管走行自然"),
                     "macula": ("黄斑中心凹反光可见", "黄斑区未见异常", "中心凹反光可见")},
        noise=("图像质量尚可", "眼底照相", "所见如下"),
        hazy=("眼底窥不清", "眼底模糊"),
        length_range=(30, 62),
    ),
    "en": Style(
        sentence_end=". ", phrase_joiner=", ", list_joiners=(", ", " and ", " and "),
        lesion_sentences=("{x} are seen", "There are {x}", "{x} noted", "{x} present", "Fundus shows {x}",
                          "{x} in the posterior pole", "{x} seen in the periphery"),
        modifiers={"low": ("", "a few ", "occasional "), "mid": ("", "scattered ", "several "),
                   "high": ("", "multiple ", "numerous ")},
        uncertain=("suspected {t}", "possible {t}", "{t}?", "{t} cannot be excluded", "findings suggestive of {t}",
                   "probable {t}", "query {t}"),
        diagnosis=("Diagnosis: {x}", "{x}", "Impression: {x}", "Consistent with {x}"),
        dr_names=("diabetic retinopathy", "DR"),
        dr_forms=("{t} stage {n}", "stage {n} {t}", "{t} (stage {n})", "{t}: stage {n}"),
        cup_forms=("C/D {v}", "cup-to-disc ratio {v}", "CDR approximately {v}", "C/D = {v}",
                   "cup-to-disc ratio of {v}", "C/D ratio {v}", "vertical C/D {v}"),
        av_forms=("A:V {r}", "A/V ratio {r}", "artery-to-vein ratio {r}", "AVR {r}", "A:V ratio of about {r}",
                  "arteriovenous ratio {r}"),
        negated_one=("no {a}", "no evidence of {a}", "without {a}", "negative for {a}", "{a} not seen",
                     "{a} absent", "no signs of {a}", "no obvious {a}"),
        negated_two=("no {a} or {b}", "{a} and {b} are absent", "no evidence of {a} or {b}", "{a} and {b} not seen",
                     "no {a}, no {b}"),
        negated_three=("no {a}, {b} or {c}", "no {a}, {b} and {c}", "{a}, {b} and {c} are absent"),
        advice=("Recommend follow-up", "Recommend FFA to rule out neovascularization", "Please correlate clinically",
                "Follow-up in 6 months", "Suggest OCT examination", "Review in 3 months",
                "Referral to a retina specialist recommended", "Repeat fundus photography in 1 year"),
        normal_statements=("Normal fundus", "Fundus unremarkable", "No abnormality detected",
                           "Fundus within normal limits", "No significant abnormality"),
        descriptors={"disc": ("optic disc margins clear", "disc pink with sharp margins", "clear disc margins"),
                     "retina": ("retina flat", "retina attached"),
                     "vessels": ("vessels normal", "normal vessel course"),
                     "macula": ("foveal reflex present", "macula normal", "normal foveal reflex")},
        noise=("Image quality adequate", "Fundus photograph reviewed", "Single field image"),
        hazy=("Fundus view hazy", "Poor fundus view"),
        length_range=(110, 230),
    ),
}


def write_report(findings: EyeFindings, rng: np.random.Generator, lang: str = "zh") -> str:
    """A diagnostic report for one eye, in `lang` ("zh" or "en"), from which the converter
    recovers `findings.keys`."""
    if lang not in STYLES:
        raise VlpbenchError(f"no report style for language '{lang}' (available: {', '.join(STYLES)})")
    return _Writer(load_knowledge_base(lang), STYLES[lang], rng).report(findings)


def ratio_forms(value: float) -> list[str]:
    """Ways to write an A:V value exactly: 2:3 and 1:1.5 for 0.667, 1:2 and 0.5 for 0.5, …"""
    ratio = Fraction(value).limit_denominator(20)
    forms = [f"{ratio.numerator}:{ratio.denominator}"]
    inverse = Fraction(ratio.denominator, ratio.numerator)
    if ratio.numerator != 1 and (inverse * 100).denominator == 1:
        forms.append(f"1:{float(inverse):g}")
    if (ratio * 100).denominator == 1:
        forms.append(f"{float(ratio):g}")
    return forms


class _Writer:
    def __init__(self, kb: KnowledgeBase, style: Style, rng: np.random.Generator):
        self.kb, self.style, self.rng = kb, style, rng

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def term(self, key: str) -> str:
        category = self.kb.category(key)
        return self.pick((category.term, *category.synonyms, *category.abbreviations))

    def listing(self, items: list[str]) -> str:
        if len(items) == 1:
            return items[0]
        inner = self.style.list_joiners[0]
        return inner.join(items[:-1]) + self.pick(self.style.list_joiners) + items[-1]

    def sentence(self, template: str, **values: str) -> str:
        """Fill a template; a sentence starts with a capital letter."""
        text = template.format(**values)
        return text[:1].upper() + text[1:]

    # --- report parts -----------------------------------------------------------------------

    def report(self, eye: EyeFindings) -> str:
        """Required sentences (what the eye has), then optional ones drawn in random order until
        the report reaches a length drawn independently of the findings: report length must not
        predict `normal` (a shortcut the text tower learnt instead of the terms)."""
        keys = set(eye.keys)
        required = self.normal_report(eye) if keys == {"normal"} else self.abnormal_report(eye, keys)
        target = int(self.rng.integers(*self.style.length_range))
        optional = self.optional_sentences(keys)
        sentences = list(required)
        while optional and self.length(sentences) < target:
            sentence = optional.pop()
            sentences.insert(int(self.rng.integers(len(sentences) + 1)), sentence)
        if self.chance(0.35):
            sentences.append(self.sentence(self.pick(self.style.advice)))
        end = self.style.sentence_end
        return end.join(sentences).strip() + end.strip()

    def length(self, sentences: list[str]) -> int:
        return sum(len(s) + len(self.style.sentence_end) for s in sentences)

    def optional_sentences(self, keys: set[str]) -> list[str]:
        """Sentences any eye may carry, shuffled: descriptions of structures the findings leave
        normal, negated distractors, image-quality remarks."""
        normal_parts = [self.pick(self.style.descriptors[s]) for s, ruled_out in STRUCTURES.items() if not keys & set(ruled_out)]
        self.rng.shuffle(normal_parts)
        out = [self.sentence(self.style.phrase_joiner.join(normal_parts[:2])), self.sentence(self.style.phrase_joiner.join(normal_parts[2:]))]
        out = [s for s in out if s]
        out += [self.distractor_sentence(keys - {"normal"}) for _ in range(2)]
        out.append(self.sentence(self.pick(self.style.noise)))
        self.rng.shuffle(out)
        return out

    def normal_report(self, eye: EyeFindings) -> list[str]:
        out = [self.sentence(self.pick(self.style.normal_statements))]
        measured = self.measurements(eye, cup_p=0.5, av_p=0.4)[0]
        if measured:
            out.append(self.sentence(self.style.phrase_joiner.join(measured)))
        self.rng.shuffle(out)
        return out

    def abnormal_report(self, eye: EyeFindings, keys: set[str]) -> list[str]:
        stage_written = eye.dr_stage > 0 and self.chance(0.9)
        measured, (cup_written, av_written) = self.measurements(
            eye, cup_p=0.75 if "large_optic_cup" in keys else 0.5, av_p=0.7 if "thin_arteries" in keys else 0.4)
        silent = set()  # findings a written rule already implies, left unsaid now and then
        if stage_written and self.chance(0.5):
            silent |= {k for k, lowest in DR_STAGE_IMPLIES.items() if eye.dr_stage >= lowest}
        if cup_written and self.chance(0.6):
            silent.add("large_optic_cup")
        if av_written and self.chance(0.6):
            silent.add("thin_arteries")
        lesions = [k for k in self.kb.keys if k in keys and k not in DISEASES and k not in ("others", "normal")
                   and k not in silent]
        self.rng.shuffle(lesions)
        out = [self.sentence(self.style.phrase_joiner.join(measured))] if measured else []
        out += self.lesion_sentences(lesions, eye.severity)
        diagnosis = self.diagnosis(eye, keys, stage_written)
        if diagnosis:
            out.append(diagnosis)
        if "cataract" in keys and self.chance(0.4):
            out.insert(0, self.sentence(self.pick(self.style.hazy)))
        return out

    def measurements(self, eye: EyeFindings, cup_p: float, av_p: float) -> tuple[list[str], tuple[bool, bool]]:
        cup, av = self.chance(cup_p), self.chance(av_p)
        parts = [self.pick(self.style.cup_forms).format(v=f"{eye.cup_disc_ratio:g}")] if cup else []
        parts += [self.pick(self.style.av_forms).format(r=self.pick(ratio_forms(eye.av_ratio)))] if av else []
        return parts, (cup, av)

    def lesion_sentences(self, lesions: list[str], severity: float) -> list[str]:
        level = "low" if severity < 0.4 else "high" if severity > 0.75 else "mid"
        certain, suspected = [], []
        for key in lesions:
            if self.chance(0.08):
                suspected.append(self.pick(self.style.uncertain).format(t=self.term(key)))
            else:
                modifier = self.pick(self.style.modifiers[level]) if key in COUNTABLE else ""
                certain.append(modifier + self.term(key))
        out = []
        while certain:
            size = int(self.rng.integers(1, 4))
            out.append(self.sentence(self.pick(self.style.lesion_sentences), x=self.listing(certain[:size])))
            certain = certain[size:]
        out += [self.sentence(s) for s in suspected]
        return out

    def distractor_sentence(self, keys: set[str]) -> str:
        pool = [k for k in DISTRACTORS if k not in keys]
        count = min(len(pool), int(self.rng.integers(1, 4)))
        chosen = [self.term(pool[i]) for i in self.rng.choice(len(pool), size=count, replace=False)]
        templates = (self.style.negated_one, self.style.negated_two, self.style.negated_three)[count - 1]
        return self.sentence(self.pick(templates), **dict(zip("abc", chosen)))

    def diagnosis(self, eye: EyeFindings, keys: set[str], stage_written: bool) -> str | None:
        items = []
        for key in DISEASES:
            if key not in keys:
                continue
            text = self.dr_with_stage(eye.dr_stage) if key == "dr" and stage_written else self.term(key)
            items.append(self.pick(self.style.uncertain).format(t=text) if self.chance(0.1) else text)
        if eye.others_term:
            items.append(self.pick(self.kb.rare_terms(eye.others_term)))
        if not items:
            return None
        self.rng.shuffle(items)
        return self.sentence(self.pick(self.style.diagnosis), x=self.style.phrase_joiner.join(items))

    def dr_with_stage(self, stage: int) -> str:
        name = self.pick(self.style.dr_names)
        numeral = self.pick((str(stage), _UPPER_ROMAN[stage - 1], chr(0x2160 + stage - 1)))
        template = self.pick(self.style.dr_forms)
        if name[-1].isascii() and name[-1].isalpha() and "{t}{n}" in template:
            template = template.replace("{t}{n}", "{t} {n}")  # DR IV, never DRIV
        return template.format(t=name, n=numeral)
