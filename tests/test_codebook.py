from pathlib import Path

import pytest
import yaml

from pipeline.contract.codebook import Codebook, load_codebook
from pipeline.errors import ConfigError

HANDLUNGSFELDER = [
    "Management und Steuerung",
    "Interkulturelle Öffnung und Antirassismus",
    "Fairer Zugang und Teilhabechancen",
    "Arbeit und wirtschaftliche Entwicklung",
    "Engagement und Beteiligung",
    "Zusammenhalt und Begegnung",
    "Kommunikation und Konfliktmanagement",
]


def test_instrument_has_the_seven_handlungsfelder_in_order(codebook: Codebook) -> None:
    assert [f.label for f in codebook.fields] == HANDLUNGSFELDER
    themes = [t.label for t in codebook.fields[2].themes]
    assert "Sprache" in themes and "Gesundheit und Pflege" in themes


def test_every_version_is_a_realistic_instrument_with_every_item_type(codebook: Codebook) -> None:
    for version in codebook.versions:
        items = codebook.items_in(version.version)
        assert 40 <= len(items) <= 110
        assert {i.type for i in items} == {"scale", "yesno", "multi", "text"}
        assert {i.field for i in items if i.field} == {f.code for f in codebook.fields}


def test_scales_keep_dont_know_and_no_answer_apart_from_the_values(codebook: Codebook) -> None:
    for name in ("zustimmung5", "umsetzung5"):
        options = {o.code: o for o in codebook.scales[name].options}
        assert [options[c].value for c in "12345"] == [1, 2, 3, 4, 5]
        assert options["wn"].label == "weiß nicht" and options["wn"].value is None
        assert options["ka"].label == "keine Angabe" and options["ka"].value is None


def test_multiple_choice_offers_sonstiges(codebook: Codebook) -> None:
    multi = [i for i in codebook.items if i.type == "multi"]
    assert multi and all(i.options[-1].label == "Sonstiges" for i in multi)


def test_versions_differ_by_added_and_retired_items(codebook: Codebook) -> None:
    first, second = ({i.code for i in codebook.items_in(v.version)} for v in codebook.versions)
    assert second - first == {i.code for i in codebook.items if i.added_in == "2026.1"}
    assert first - second == {i.code for i in codebook.items if i.retired_in == "2026.1"}


def _broken(tmp_path: Path, codebook_file: Path, change) -> Path:
    data = yaml.safe_load(codebook_file.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["items"].append(dict(d["items"][0])), "item HF1_01: duplicate code"),
        (lambda d: d["items"][0].update(scale="zustimmung7"), "item HF1_01: unknown scale 'zustimmung7'"),
        (lambda d: d["items"][0].update(field="HF9"), "item HF1_01: unknown field 'HF9'"),
    ],
)
def test_an_inconsistent_codebook_is_refused_naming_the_item(tmp_path: Path, change, message: str) -> None:
    shipped = Path(__file__).resolve().parents[1] / "schemas" / "codebook" / "chancencheck.yaml"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_codebook(_broken(tmp_path, shipped, change))
