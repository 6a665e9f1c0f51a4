from pathlib import Path

import pytest
import yaml

from pipeline.contract.codebook import Codebook
from pipeline.errors import ConfigError
from pipeline.registry import load_registry
from pipeline_testkit import demo


def _registry(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_demo_registry_is_valid(demo_registry) -> None:
    assert len(demo_registry.partners) >= 3
    assert {p.connector.kind for p in demo_registry.partners} == {"kobo", "limesurvey", "odk", "files", "sosci"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["partners"][0]["connector"].update(kind="surveymonkey"),
            "partner caritas-lu: connector: Input tag 'surveymonkey'",
        ),
        (
            lambda d: d["partners"][1]["mapping"].update({"teil_9/frage": "HF9_99"}),
            "partner stadt-lu: mapping: 'teil_9/frage' maps to unknown item 'HF9_99'",
        ),
        (lambda d: d["partners"][2].update(id="caritas-lu"), "partner caritas-lu: id: duplicate partner id"),
        (
            lambda d: d["partners"][3]["mapping"].update({"q_x": "HF1_01=a"}),
            "partner hwg-lu: mapping: 'q_x' maps to 'HF1_01=a', not an option of a multiple choice",
        ),
        (
            lambda d: d["partners"][3]["mapping"].update({"q_y": "HF5_03=sonstiges:zahl"}),
            "partner hwg-lu: mapping: 'q_y' maps to 'HF5_03=sonstiges:zahl', not an option of a multiple choice",
        ),
        (
            lambda d: d["partners"][3].update(org_type="verein"),
            "partner hwg-lu: org_type: 'verein' is not one of",
        ),
        (  # the organisation type asked per response: its recode leads to the codebook's types
            lambda d: d["partners"][5].update(
                org_type={"field": "ORGTYP", "recode": {"A1": "verwaltung", "A9": "verein"}}
            ),
            "partner stadt-bildung-lu: org_type.recode: ORGTYP.A9 → 'verein' is not one of ['arbeitsverwaltung',",
        ),
        (
            lambda d: d["partners"][5].update(org_type={"field": "HF1Q01"}),
            "partner stadt-bildung-lu: org_type.field: 'HF1Q01' is mapped too; it gives the org type",
        ),
        (
            lambda d: d["partners"][5].update(org_type={"field": 'ORG"TYP'}),
            "partner stadt-bildung-lu: org_type.question.field: Value error, the question code must be non-empty",
        ),
        (
            lambda d: d["partners"][5].update(org_type={"feld": "ORGTYP"}),
            "partner stadt-bildung-lu: org_type.question.field: Field required",
        ),
        (
            lambda d: d["partners"][2]["recode"]["zustimmung5"].update({"97": "vielleicht"}),
            "partner jobcenter-lu: recode: zustimmung5.97 → 'vielleicht' is not an answer code",
        ),
        (  # passed the check, then failed every run with a BinderException
            lambda d: d["partners"][1]["mapping"].update({"teil_1/frage\\": "HF1_01"}),
            "partner stadt-lu: mapping: Value error, partner question codes must be non-empty and fit a JSON path "
            "key (no '\"', no trailing '\\'): ['teil_1/frage\\\\']",
        ),
    ],
)
def test_invalid_registry_names_partner_and_field(tmp_path: Path, codebook: Codebook, change, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_registry(_registry(tmp_path, change), codebook, check_secrets=False)
    assert expected in str(excinfo.value)


def test_missing_secret_names_partner_and_variable(
    tmp_path: Path, codebook: Codebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = load_registry(demo.DEMO_REGISTRY, codebook, check_secrets=False)
    for partner in registry.partners:
        monkeypatch.setenv(partner.secret_env, "x")
    monkeypatch.delenv("DEMO_TOKEN_HWG_LU")
    with pytest.raises(ConfigError) as excinfo:
        load_registry(demo.DEMO_REGISTRY, codebook, check_secrets=True)
    assert "partner hwg-lu: secret_env: environment variable DEMO_TOKEN_HWG_LU is not set" in str(excinfo.value)
    assert str(excinfo.value).count("secret_env") == 1
