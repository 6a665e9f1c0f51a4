"""The partners' answer labels against the codebook's: a reversed or shifted scale is found before it skews a mean.

A partner's tool may code its scale the other way round (LimeSurvey A1 = "trifft voll zu" where the demo has
A1 = 1 = "trifft überhaupt nicht zu"); its answers then load without a single rejection and turn every mean
upside down. `pipeline check --connect` reads the labels of each partner's answer codes where the tool exposes
them (each connector's form_labels) and compares them here, after the registry's recode, with the codebook's
German labels. The comparison is tolerant: case, spacing, punctuation, HTML, umlauts (ä = ae) and a leading
number ("1 – trifft …") do not count, and labels at least SIMILAR alike agree (a typo, "teils/teils"). A label
worded otherwise is shown for the operator to judge, with the codebook's label beside it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from pipeline.contract.codebook import Codebook, Option, OrgType
from pipeline.contract.validation import recode_by_item
from pipeline.registry import ORG_TYPE, Partner

SIMILAR = 0.85
_TAG = re.compile(r"<[^>]+>")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def normalised(label: str) -> str:
    """A label as compared: lower case, umlauts spelt out, words only, a leading number left out."""
    text = html.unescape(_TAG.sub(" ", label)).casefold().translate(_UMLAUTS)
    words = re.findall(r"[^\W_]+", text)
    while words and words[0].isdigit():
        words = words[1:]
    return " ".join(words)


def agree(theirs: str, ours: str) -> bool:
    a, b = normalised(theirs), normalised(ours)
    return a == b or SequenceMatcher(None, a, b).ratio() >= SIMILAR


@dataclass(frozen=True)
class Comparison:
    """How many mapped questions had labels to compare, and one line per way they disagree."""

    compared: int
    mismatches: list[str]


def compare(partner: Partner, codebook: Codebook, answers: dict[str, dict[str, str]]) -> Comparison:
    """Compare a partner's labels (answers: question code → answer code → label) with the codebook's. Each
    mismatch line names the partner, its questions (with the items they map to) and each code; questions that
    disagree alike share a line, so a scale reversed throughout the form is one line, not seventy."""
    tables = recode_by_item(partner.recode, codebook)
    questions_by_finding: dict[str, list[str]] = {}
    compared = 0
    for code, target in partner.mapping.items():
        item = codebook.item_by_code.get(target)
        if item is None or item.type == "text" or not answers.get(code):
            continue
        compared += 1
        finding = _disagreement(answers[code], tables.get(item.code, {}), codebook.options_of(item))
        if finding:
            questions_by_finding.setdefault(finding, []).append(f"{code} ({item.code})")
    asked = partner.asked_org_type
    if asked and answers.get(asked.field):  # a list of types in another order counts responses under wrong ones
        compared += 1
        finding = _disagreement(answers[asked.field], asked.recode, codebook.org_types)
        if finding:
            questions_by_finding.setdefault(finding, []).append(f"{asked.field} ({ORG_TYPE})")
    return Comparison(
        compared, [f"{partner.id}: {', '.join(qs)}: {finding}" for finding, qs in questions_by_finding.items()]
    )


def _disagreement(labels: dict[str, str], recode: dict[str, str], options: Sequence[Option | OrgType]) -> str:
    """What one question's labels say against the codebook's (its answer options, or its organisation types),
    code by code ('' when they agree)."""
    ours = {option.code: option for option in options}
    said = []
    for code, label in labels.items():
        if not normalised(label):
            continue  # an unlabelled code, or a bare number: nothing to compare
        target = recode.get(code, code)
        option = ours.get(target)
        if option is None:
            said.append(f"{code} {label!r} becomes {target!r}, not a code of the codebook (its answers are rejected)")
        elif not agree(label, option.label):
            said.append(f"{code} {label!r} becomes {option.code} {option.label!r}")
    return "; ".join(said)
