"""The answer labels of an XForm, the form definition ODK Central serves (GET .../forms/{id}.xml).

A select's choices are either inline `<item>`s (`<value>` and `<label>`) or, as pyxform writes them since 2.0,
an `<itemset nodeset="instance('list')/root/item">` over a secondary instance whose items hold a name and a
label or an `itextId`. Labels are text or `jr:itext('id')` references into the model's `<itext>`, read in its
German translation where it has one (else its first). Questions are named by their path below the instance
root, as Central's OData feed (flattened) names them: "group/question".
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from pipeline.extract import german_first

XF = "{http://www.w3.org/2002/xforms}"
_HTML = "{http://www.w3.org/1999/xhtml}"
_ITEXT = re.compile(r"jr:itext\(\s*'?([^')]*)'?\s*\)")
_INSTANCE = re.compile(r"instance\(\s*'([^']+)'\s*\)")


def answer_labels(xml: bytes) -> dict[str, dict[str, str]]:
    """Question path → answer code → label of every select1 and select; raises ValueError when xml is no
    XForm."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from exc
    model, body = root.find(f"{_HTML}head/{XF}model"), root.find(f"{_HTML}body")
    if model is None or body is None:
        raise ValueError("no XForm: h:head/model or h:body missing")
    instances = model.findall(f"{XF}instance")
    primary = next((i for i in instances if i.get("id") is None and len(i)), None)
    if primary is None:
        raise ValueError("no XForm: the model has no primary instance")
    prefix = f"/{primary[0].tag.rpartition('}')[2]}/"
    secondary = {i.get("id"): i for i in instances if i.get("id")}
    texts = _itext(model)
    answers: dict[str, dict[str, str]] = {}
    for select in body.iter():
        ref = select.get("ref", "")
        if select.tag not in (f"{XF}select1", f"{XF}select") or not ref.startswith(prefix):
            continue
        choices = {
            _text(item.find(f"{XF}value")): _label(item.find(f"{XF}label"), texts)
            for item in select.findall(f"{XF}item")
        }
        itemset = select.find(f"{XF}itemset")
        if itemset is not None:
            choices.update(_itemset(itemset, secondary, texts))
        answers[ref.removeprefix(prefix)] = choices
    return answers


def _itext(model: ElementTree.Element) -> dict[str, str]:
    """Text id → its text in the German translation (else the first): the plain form, not audio or image."""
    translations = model.findall(f"{XF}itext/{XF}translation")
    if not translations:
        return {}
    chosen = translations[german_first([t.get("lang") for t in translations])]
    texts = {}
    for text in chosen.findall(f"{XF}text"):
        plain = [v for v in text.findall(f"{XF}value") if v.get("form") in (None, "long")]
        texts[text.get("id", "")] = _text(plain[0]) if plain else ""
    return texts


def _itemset(
    itemset: ElementTree.Element, secondary: dict[str | None, ElementTree.Element], texts: dict[str, str]
) -> dict[str, str]:
    """Code → label of the items of the secondary instance an itemset reads."""
    source = _INSTANCE.search(itemset.get("nodeset", ""))
    value, label = itemset.find(f"{XF}value"), itemset.find(f"{XF}label")
    if source is None or source.group(1) not in secondary or value is None or label is None:
        return {}
    value_name, label_ref = value.get("ref", "name"), label.get("ref", "label")
    itext = _ITEXT.fullmatch(label_ref.strip())
    choices = {}
    for item in secondary[source.group(1)].iter(f"{XF}item"):
        code = _text(item.find(f"{XF}{value_name}"))
        if itext:
            choices[code] = texts.get(_text(item.find(f"{XF}{itext.group(1)}")), "")
        else:
            choices[code] = _text(item.find(f"{XF}{label_ref}"))
    return choices


def _label(label: ElementTree.Element | None, texts: dict[str, str]) -> str:
    if label is None:
        return ""
    itext = _ITEXT.fullmatch((label.get("ref") or "").strip())
    return texts.get(itext.group(1), "") if itext else _text(label)


def _text(element: ElementTree.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""
