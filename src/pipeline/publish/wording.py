"""What the steering group reads, in German, the same in the workbook and the report: the legend of the status
markers, titles, the release line, the method notes and the audit in words, and German number formats."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from pipeline.vocabulary import HIDDEN, MERGED_LABEL, NOT_APPLICABLE

LEGEND = {
    HIDDEN: "Zahlenwert geheim zu halten",
    NOT_APPLICABLE: "Tabellenfach gesperrt, weil Aussage nicht sinnvoll",
}
PERSONAL = "Freiwillige Angaben zur Person"
ITEM_TYPES = {"scale": "Skala", "yesno": "Ja/Nein", "multi": "Mehrfachauswahl", "text": "Freitext"}
TITLE = "ChancenCheckLU – Ergebnisse für den Lenkungskreis"
SOURCE = (
    "ChancenCheckLU – Selbstcheck Vielfalt und Chancengleichheit der Stadt Ludwigshafen am Rhein und ihrer "
    "Partnerorganisationen („Wir alle sind LU“, Modellprojekt „Weltoffene Kommune“)"
)


# A change of a mean the report marks as notable, in scale points: stated in the legend, not a test of
# significance (the published tables hold no spread to test against).
NOTABLE_CHANGE = 0.3


class Waves:
    """The release's waves in order of opening: labels, the latest, the one before it."""

    def __init__(self, meta: dict) -> None:
        self.labels: dict[str, str] = {w["wave"]: w["wave_label"] for w in meta["waves"]}
        self.order = list(self.labels)
        self.latest = self.order[-1] if self.order else None
        self.previous = self.order[-2] if len(self.order) > 1 else None

    def since(self) -> str:
        return f"seit {self.labels[self.previous]}" if self.previous else "zur vorigen Welle"

    def rank(self, wave: str) -> int:
        """Latest first."""
        return -self.order.index(wave) if wave in self.order else 1


def published_on(meta: dict) -> str:
    """The release time as the city reads it (releases are stamped in UTC; meta["timezone"]: the city's)."""
    moment = datetime.fromisoformat(meta["published_at"])
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(meta["timezone"]))
    return moment.strftime("%d.%m.%Y, %H:%M Uhr")


def release_line(meta: dict, waves: Waves) -> str:
    return (
        f"Veröffentlichung {meta['release_id']} vom {published_on(meta)} · Wellen: "
        f"{', '.join(waves.labels.values())} · Mindestfallzahl k = {meta['disclosure_k']}"
    )


def legend_line() -> str:
    return " · ".join(f"„{sign}“ = {meaning}" for sign, meaning in LEGEND.items())


def legend_entries(meta: dict, waves: Waves) -> list[tuple[str, str]]:
    """(sign or term, meaning) as the legend of the workbook and the report lists them."""
    k = meta["disclosure_k"]
    return [
        (HIDDEN, LEGEND[HIDDEN]),
        (NOT_APPLICABLE, f"{LEGEND[NOT_APPLICABLE]} (z. B. Mittelwert einer Ja/Nein-Frage, Veränderung ohne Vorwelle)"),
        (f"k = {k}", _k_meaning(meta)),
        ("Mittelwert", "Durchschnitt der gültigen Antworten auf der Skala von 1 (niedrigste) bis 5 (höchste Stufe)"),
        ("Top-2-Anteil", "Anteil der gültigen Skalenantworten in den beiden obersten Stufen (4 und 5)"),
        ("Veränderung", "Wert dieser Welle minus Wert der vorigen Welle; Top-2-Anteil in Prozentpunkten"),
        (
            "Quelle",
            f"{SOURCE}; {meta['partners']} Partner; Wellen {', '.join(waves.labels.values())}; Fragebogenfassungen "
            f"{', '.join(meta['instrument_versions'])}; Veröffentlichung {meta['release_id']} vom {published_on(meta)}",
        ),
    ]


def perturbed(meta: Mapping) -> bool:
    """Whether the release publishes under the cell key method (its figures carry noise) or by suppression."""
    return meta.get("disclosure", {}).get("method") == "cell_key"


def _k_meaning(meta: dict) -> str:
    if perturbed(meta):
        return "Keine veröffentlichte Anzahl liegt zwischen 1 und k − 1; alle Anzahlen sind leicht überlagert"
    return "Mindestzahl der Antworten hinter jedem veröffentlichten Wert; kleinere Zahlen sind gesperrt"


def cell_key_notes(meta: dict) -> list[tuple[str, str]]:
    """The notes on the cell key method that replace those on suppression."""
    k = meta["disclosure_k"]
    method = meta["disclosure"]
    deviation, variance = method["max_deviation"], german_number(method["variance"])
    return [
        (
            "Geheimhaltung: Cell-Key-Verfahren",
            "Keine Zahl wird gesperrt; stattdessen wird jede Anzahl mit einer kleinen Abweichung veröffentlicht "
            "(das Verfahren des Zensus 2022 der statistischen Ämter und des britischen Census 2021). Anzahlen "
            f"von 1 bis {k - 1} erscheinen als 0 oder {k}, und zwar im Mittel richtig (eine 2 erscheint in zwei "
            f"von {k} Fällen als {k}, sonst als 0); Anzahlen ab {k} weichen um höchstens {deviation} ab, im Mittel "
            f"um 0 (Varianz {variance}). Eine 0 bleibt 0. Dieselben Befragten ergeben in jeder Tabelle und jeder "
            "Veröffentlichung dieselbe Abweichung: Wer Veröffentlichungen vergleicht oder Tabellen verrechnet, "
            "erhält keine genaueren Zahlen. Mittelwerte, Anteile und gültige Antworten werden aus den "
            "überlagerten Anzahlen berechnet; Summen über Organisationsarten ergeben deshalb nicht genau die "
            "Zeile „Insgesamt“, die ihre eigene Abweichung hat.",
        ),
        (
            "Was das Verfahren zusichert",
            f"Keine veröffentlichte Anzahl liegt zwischen 1 und {k - 1}, und keine Anzahl von 1 bis {k - 1} wird "
            "unverändert gezeigt. Die Prüfung vor der Veröffentlichung rechnet beides für jedes Tabellenfeld nach.",
        ),
    ]


def method_notes(meta: dict, waves: Waves) -> list[tuple[str, str]]:
    """(heading, text) notes on method for the steering group."""
    k = meta["disclosure_k"]
    running = [waves.labels[w] for w in meta.get("open_waves", []) if w in waves.labels]
    if running:
        waves_note = (
            "Laufende Welle",
            f"{', '.join(running)} läuft noch: Ihre Zahlen sind vorläufig und ändern sich mit jeder "
            "Veröffentlichung. "
            + (
                "Die Abweichungen des Cell-Key-Verfahrens bleiben für dieselben Befragten gleich."
                if perturbed(meta)
                else "Wie jede Veröffentlichung wird sie zusammen mit der vorigen geprüft und gesperrt "
                "(siehe „Vergleich mit der vorigen Veröffentlichung“)."
            ),
        )
    else:
        waves_note = (
            "Abgeschlossene Wellen",
            f"Veröffentlicht werden nur abgeschlossene Erhebungswellen ({', '.join(waves.labels.values())}). "
            "Eine laufende Welle erscheint nicht: Der Vergleich zweier Veröffentlichungen verriete sonst die "
            "Antworten einzelner neu Antwortender.",
        )
    since = (
        "Vergleich mit der vorigen Veröffentlichung",
        "Auch abgeschlossene Wellen ändern sich: durch Nachlieferungen, Korrekturen und Löschungen auf Wunsch "
        "Befragter. Jede Veröffentlichung wird deshalb zusammen mit der vorigen geprüft und gesperrt: Ändert "
        f"sich eine Anzahl um 1 bis {k - 1}, darf sich aus beiden Veröffentlichungen zusammen nicht beweisen "
        "lassen, dass sie sich um so viel geändert hat (für Außenstehende wie für Antwortende), sonst zeigte der "
        "Vergleich, wie die neu oder nicht mehr Antwortenden geantwortet haben. Ausgenommen sind Änderungen, die "
        "beide Veröffentlichungen ohnehin zeigen: wie viele ein Item insgesamt beantwortet haben und was sich "
        "daraus mit veröffentlichten Nullen ergibt.",
    )
    protection = cell_key_notes(meta) if perturbed(meta) else [since, *_suppression_notes(k)]
    return [
        waves_note,
        *_grouped_note(meta, waves),
        (
            "Mittelwert und Top-2-Anteil",
            "Der Mittelwert ist der Durchschnitt der gültigen Antworten auf der fünfstufigen Skala (1 = niedrigste, "
            "5 = höchste Stufe). Der Top-2-Anteil ist der Anteil der gültigen Antworten in den Stufen 4 und 5. "
            "„weiß nicht“ und „keine Angabe“ zählen als beantwortet, gehen aber in keinen Mittelwert und keinen "
            "Anteil ein. Ein Handlungsfeld fasst alle gültigen Skalenantworten seiner Items zusammen.",
        ),
        (
            "Veränderung",
            f"Wert dieser Welle minus Wert der vorigen Welle ({waves.since()}), bei Items nur, wenn das Item in "
            "beiden Fassungen des Fragebogens enthalten ist; beim Top-2-Anteil in Prozentpunkten.",
        ),
        *protection,
        ("Prüfung vor der Veröffentlichung", audit_note(meta["audit"], perturbed(meta))),
        (
            "Handlungsbedarfe",
            "Rangfolge aus den veröffentlichten Mittelwerten, aufsteigend (Rang 1 = schwächster Wert), bei Gleichstand "
            "nach dem Top-2-Anteil; gesperrte Werte nehmen nicht teil. Items: die zehn schwächsten je Welle und "
            "Organisationsart; Handlungsfelder: alle.",
        ),
        (
            "Freitexte",
            "Veröffentlicht wird nur, wie viele Personen je Handlungsfeld einen Freitext geschrieben haben. Die Texte "
            "selbst bleiben intern.",
        ),
    ]


def grouped_line(meta: dict, waves: Waves) -> str:
    """Under the overview: which types "Weitere Organisationen" stands for in the wave shown ("" if none)."""
    types = (meta.get("grouped") or {}).get(waves.latest)
    if not types:
        return ""
    return (
        f"„{MERGED_LABEL}“: {', '.join(types)}, zusammengefasst, weil darunter eine Organisationsart mit weniger als "
        f"{meta['disclosure_k']} Befragten ist (siehe Hinweise zur Methode)."
    )


def _grouped_note(meta: dict, waves: Waves) -> list[tuple[str, str]]:
    """Which organisation types "Weitere Organisationen" stands for, per wave (disclosure/grouping.py)."""
    grouped = meta.get("grouped") or {}
    if not grouped:
        return []
    k = meta["disclosure_k"]
    members = "; ".join(f"{waves.labels.get(w, w)}: {', '.join(types)}" for w, types in grouped.items())
    return [
        (
            MERGED_LABEL,
            f"Organisationsarten mit weniger als {k} Befragten in einer Welle erscheinen nicht einzeln: Sie sind mit "
            f"den kleinsten übrigen zu „{MERGED_LABEL}“ zusammengefasst, bis die Gruppe mindestens {k} Befragte hat. "
            "Einzeln gezeigt, müssten ihre Werte gesperrt werden und mit ihnen die einer weiteren Organisationsart, "
            f"weil „Insgesamt“ minus die übrigen sie sonst ergäbe. Zusammengefasst sind {members}. Die Gruppe "
            "bleibt für eine Welle in jeder späteren Veröffentlichung dieselbe. Eine Veränderung zur vorigen Welle "
            "zeigt sie nur, wenn sie in beiden Wellen dieselben Organisationsarten umfasst.",
        )
    ]


def _suppression_notes(k: int) -> list[tuple[str, str]]:
    return [
        (
            "Geheimhaltung, primär",
            f"Jede Anzahl von 1 bis {k - 1} Antworten und jeder Mittelwert, Anteil oder jede Veränderung aus weniger "
            f"als {k} Antworten wird gesperrt („.“). Hat ein Item in einer Organisationsart weniger als {k} "
            f"Befragte, oder die Organisationsart in der Welle weniger als {k}, werden ihre Anzahlen ganz gesperrt, "
            "Nullen eingeschlossen: sonst zeigten die Nullen, welche Antwort die wenigen gaben. Aus demselben Grund "
            "wird die Verteilung „Insgesamt“ eines Items gesperrt, wenn alle Antworten der Welle in dieselbe "
            "Kategorie fallen und eine solche kleine Gruppe darunter ist. Bei den freiwilligen Angaben zur Person "
            "(besondere Kategorien nach Art. 9 DSGVO) zusätzlich jede Gruppe, deren Antworten alle in dieselbe "
            "Kategorie fallen. Wie eine veröffentlichte Anzahl geschützt wird jede Anzahl, die sich aus "
            "veröffentlichten Werten ergibt: beantwortet minus gültig („weiß nicht“ und „keine Angabe“), "
            "Top-2-Anteil mal gültige Antworten und die übrigen gültigen Antworten, auch im Handlungsfeld.",
        ),
        (
            "Geheimhaltung, sekundär",
            "Weitere Werte werden gesperrt, damit sich kein gesperrter Wert aus Summen, der Zeile „Insgesamt“, "
            "anderen Tabellen dieser Veröffentlichung oder früheren Veröffentlichungen zurückrechnen oder eng "
            "eingrenzen lässt. Einmal gesperrte Werte bleiben in späteren Veröffentlichungen gesperrt. Jeder Wert "
            "ist in Arbeitsmappe, Bericht und Datendateien gleich gesperrt.",
        ),
    ]


def audit_note(audit: dict, perturbed: bool = False) -> str:
    """The audit in words, without the cell or the true value of the narrowest interval."""
    verdict = "bestanden" if audit.get("passed") else "nicht bestanden"
    if perturbed:
        return (
            f"Vor jeder Veröffentlichung wird jedes Tabellenfeld nachgerechnet: Prüfung {verdict}; "
            f"{german_int(audit.get('cells', 0))} Tabellenfelder geprüft, keines gesperrt."
        )
    text = (
        "Vor jeder Veröffentlichung werden alle Tabellen gemeinsam angegriffen (lineare Optimierung): Für jeden "
        "gesperrten Wert wird das Intervall bestimmt, in dem er sich beweisbar befinden muss (als ganze Zahlen), "
        "auch mit dem Wissen einer antwortenden Person über ihre eigene Antwort: Eine gesperrte kleine Anzahl "
        "muss für Außenstehende wie für Antwortende ihrer Gruppe mindestens um 1 größer sein können und "
        "mindestens zwei Werte offenlassen. Ist ein Wert genau oder zu eng bestimmbar, wird nicht "
        f"veröffentlicht. Diese Veröffentlichung: Prüfung {verdict}; {german_int(audit.get('cells', 0))} "
        f"Tabellenfelder geprüft, {german_int(audit.get('primary', 0))} primär und "
        f"{german_int(audit.get('secondary', 0))} sekundär gesperrt."
    )
    width = _interval_width(audit.get("narrowest"))
    if width is not None:
        text += f" Engstes beweisbares Intervall eines primär gesperrten Werts: Breite {german_number(width)}."
    return text


def _interval_width(narrowest: dict | None) -> float | None:
    if not narrowest:
        return None
    for low, high in (("lb", "ub"), ("lower", "upper"), ("low", "high")):
        if narrowest.get(low) is not None and narrowest.get(high) is not None:
            return float(narrowest[high]) - float(narrowest[low])
    return None


def german_int(value: int) -> str:
    return f"{int(value):,}".replace(",", ".")


def german_number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


# Second parts of German compounds in the labels of organisation types and tables: a soft hyphen before them
# lets a narrow column break a long header there ("Wohlfahrts-verband"), since browsers without German
# hyphenation dictionaries (Chromium on Linux) would otherwise break it anywhere or overflow.
_SECOND_PARTS = (
    "verwaltung", "verband", "einrichtung", "schule", "liche", "initiative", "organisation", "gruppe", "stelle",
    "dienst", "zentrum", "verein", "antworten", "anteil", "partner",
)  # fmt: skip
SOFT_HYPHEN = "\u00ad"


def breakable(text: str) -> str:
    """text with a soft hyphen before each known second part of a long compound word."""
    words = []
    for word in text.split(" "):
        lower = word.lower()
        for part in _SECOND_PARTS:
            at = lower.find(part, 3)
            if len(word) >= 10 and at > 0 and not lower.startswith(part):
                word = word[:at] + SOFT_HYPHEN + word[at:]
                break
        words.append(word)
    return " ".join(words)
