"""`pipeline check --connect`: every partner reached without loading anything, and its answer labels compared
with the codebook's after the recode, on the emulators of all three tools that expose labels."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import yaml

from pipeline.contract import labels
from pipeline.settings import Settings
from pipeline_flows import cli
from pipeline_testkit import demo
from pipeline_testkit.emulators.limesurvey import LimeSurveyEmulator
from tests.conftest import partner_world

LIME = "stadt-bildung-lu"
# The demo's LimeSurvey codes its agreement scale A1 = 1 = "trifft überhaupt nicht zu" ... A5 = 5; this survey
# codes it the other way round, as the one seen on a real server: A1 = "trifft voll und ganz zu".
REVERSED = {"A1": "A5", "A2": "A4", "A4": "A2", "A5": "A1"}


def _said(capsys: pytest.CaptureFixture) -> str:
    """What the command printed, its lines as wrapped for the console joined again."""
    return " ".join(capsys.readouterr().out.split())


def test_every_partner_is_reached_and_correct_forms_raise_no_warning(
    world: demo.Demo, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["check", "--connect"]) == 0
    said = _said(capsys)
    for partner in world.registry.partners:
        assert f"ok {partner.id}: reached and authorised" in said
    assert "answer labels of 68 mapped questions compared" in said  # Kobo and ODK: every coded item
    assert "(survey 482913); answer labels of 63 mapped questions compared" in said
    assert "label mismatch" not in said and "FAILED" not in said
    assert not Settings().db_path.exists(), "nothing is loaded"


def test_a_reversed_limesurvey_scale_is_named_with_partner_item_and_codes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, LIME) as world:
        emulator: LimeSurveyEmulator = world.services["limesurvey"].emulator  # type: ignore[assignment]
        config = world.registry.partner(LIME).connector
        survey = emulator.surveys[config.survey_id]
        agreement = [q for q in survey.questions if q.answers.get("A1") == "trifft überhaupt nicht zu"]
        for question in agreement:
            question.answers = dict(sorted((REVERSED.get(c, c), label) for c, label in question.answers.items()))

        assert cli.main(["check", "--connect"]) == 1

    said = _said(capsys)
    assert f"ok {LIME}: reached and authorised (survey {config.survey_id})" in said
    mismatch = said[said.index("label mismatch") :]
    assert mismatch.startswith(f"label mismatch {LIME}: {agreement[0].title} ({agreement[0].title[:3]}_")
    assert (
        "A1 'trifft voll und ganz zu' becomes 1 'trifft überhaupt nicht zu'; "
        "A2 'trifft eher zu' becomes 2 'trifft eher nicht zu'; "
        "A4 'trifft eher nicht zu' becomes 4 'trifft eher zu'; "
        "A5 'trifft überhaupt nicht zu' becomes 5 'trifft voll und ganz zu'"
    ) in mismatch
    assert said.count("label mismatch") == 1, "the questions reversed alike share one line"
    assert all(f"{q.title} (" in mismatch for q in agreement)


def test_an_unreachable_or_unauthorised_partner_gets_a_clear_line(
    world: demo.Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    registry_file = Path(os.environ["PIPELINE_PARTNERS_FILE"])
    data = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
    odk = next(p for p in data["partners"] if p["id"] == "awo-lu")
    odk["connector"]["base_url"] = f"http://127.0.0.1:{closed}"
    registry_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv(world.registry.partner(LIME).secret_env, "falsch")
    monkeypatch.setenv(world.registry.partner("caritas-lu").secret_env, "abgelaufen")

    assert cli.main(["check", "--connect"]) == 1

    said = _said(capsys)
    refused = f"FAILED partner awo-lu: POST http://127.0.0.1:{closed}/v1/sessions failed: connection refused; check"
    assert refused in said
    assert f"FAILED partner {LIME}: LimeSurvey rejected the credentials of user 'chancencheck'" in said
    assert "FAILED partner caritas-lu: GET" in said and "credentials rejected; check the partner's secret" in said
    assert "falsch" not in said and "abgelaufen" not in said
    assert said.count("FAILED") == 3 and said.count(": reached and authorised") == len(world.registry.partners) - 3


def test_labels_agree_whatever_their_case_spacing_umlauts_or_leading_number() -> None:
    assert labels.agree("1 – Trifft  ÜBERHAUPT nicht zu", "trifft überhaupt nicht zu")
    assert labels.agree("<p>weiss nicht</p>", "weiß nicht")
    assert labels.agree("teils/teils", "teils, teils")
    assert not labels.agree("trifft voll und ganz zu", "trifft überhaupt nicht zu")
    assert not labels.agree("trifft eher zu", "trifft eher nicht zu")
