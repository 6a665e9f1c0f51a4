"""The steering group's HTML report of a release: one self-contained page that works offline.

Everything is inside the file: CSS in a <style> element, charts as inline SVG (see charts.py for why
matplotlib), no script, no font, no image or link to fetch. Numbers are formatted the German way; a hidden value
is ".", a value that would make no sense "x", with the legend and the notes on method the workbook uses. The
page shows the latest wave of the release, and the change since the wave before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from pipeline.publish import charts, notable, palette
from pipeline.publish.wording import (
    ITEM_TYPES,
    LEGEND,
    PERSONAL,
    SOURCE,
    TITLE,
    Waves,
    breakable,
    german_int,
    grouped_line,
    legend_entries,
    method_notes,
    published_on,
)
from pipeline.publish.workbook import field_list, org_rank
from pipeline.vocabulary import HIDDEN, NOT_APPLICABLE, PUBLISHED, TOTAL

TEMPLATES = Path(__file__).parent / "templates"
# the sign of German official statistics for "nothing there": here, an organisation type without answers
NOTHING = "–"


@dataclass(frozen=True)
class Cell:
    """A table cell as shown: its text, CSS classes and, for "." and "x", the legend as tooltip."""

    text: str
    css: str = ""
    title: str = ""
    note: str = ""
    # inline colours of a cell whose colour carries meaning (a mean in the overview, see pipeline.publish.palette)
    style: str = ""


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass(frozen=True)
class FieldSection:
    code: str
    label: str
    chart: Markup
    chart_caption: str
    tables: list[Table]
    free_texts: str


def write_report(tables: dict[str, pd.DataFrame], meta: dict, path: Path) -> Path:
    """Write the report of one release to `path` and return it (arguments as for `write_workbook`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(tables, meta), encoding="utf-8")
    return path


def render_report(tables: dict[str, pd.DataFrame], meta: dict) -> str:
    waves = Waves(meta)
    tables = notable.marked(tables, meta)
    latest = {name: frame[frame["wave"] == waves.latest] for name, frame in tables.items()}
    orgs = _orgs(latest["item_results"])
    fields = field_list(tables["field_results"])
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)
    environment.filters["breakable"] = breakable
    return environment.get_template("report.html.j2").render(
        title=TITLE,
        meta=meta,
        published_on=published_on(meta),
        waves=waves,
        latest_label=waves.labels.get(waves.latest, ""),
        overview=_overview(latest["field_results"], orgs, fields, waves),
        overview_scale=palette.legend(),
        overview_grouped=grouped_line(meta, waves),
        needs=_needs(latest["needs_ranking"], orgs),
        sections=[_field_section(latest, code, label, orgs, waves, n) for n, (code, label) in enumerate(fields, 1)],
        personal=_personal(latest["item_distribution"], orgs),
        personal_title=PERSONAL,
        free_texts=_free_texts(latest["free_text_counts"], orgs, fields),
        legend=_legend(meta, waves),
        method=method_notes(meta, waves),
        source=SOURCE,
    )


def _legend(meta: dict, waves: Waves) -> list[tuple[str, str]]:
    """The workbook's legend, with "–" and the marks of notable changes, which only the report shows."""
    entries = legend_entries(meta, waves)
    marks = [
        (NOTHING, "nichts vorhanden (keine Antworten dieser Organisationsart)"),
        ("▲ ▼", notable.meaning(meta)),
    ]
    return [*entries[:2], *marks, *entries[2:]]


def _orgs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Organisation types of the latest wave, "Insgesamt" first."""
    orgs = frame.drop_duplicates("org_type")
    orgs = orgs.assign(_org=org_rank(orgs)).sort_values("_org")
    return list(zip(orgs["org_type"], orgs["org_type_label"], strict=True))


def _overview(fields: pd.DataFrame, orgs: list[tuple[str, str]], order: list[tuple[str, str]], waves: Waves) -> Table:
    rows = _index(fields[fields["level"] == "handlungsfeld"], "field_code", "org_type")
    table = Table(
        f"Mittelwert je Handlungsfeld und Organisationsart, {waves.labels.get(waves.latest, '')} "
        f"(in Klammern: Veränderung {waves.since()})",
        ["Handlungsfeld", *(label for _, label in orgs)],
    )
    for code, label in order:
        cells = [Cell(f"{code} {label}")]
        for org, _ in orgs:
            cells.append(_coloured(rows.get((code, org)), _mean_with_change(rows.get((code, org)))))
        table.rows.append(cells)
    return table


def _coloured(row: dict | None, cell: Cell) -> Cell:
    """A published mean coloured by its class on the 1-5 scale; hidden and missing cells keep their grey."""
    if row is None or row.get("mean_status", "") != PUBLISHED or pd.isna(row.get("mean")):
        return cell
    background, text = palette.colours(float(row["mean"]))
    return dataclasses.replace(cell, css=cell.css + " farbe", style=f"background:{background};color:{text}")


def _needs(needs: pd.DataFrame, orgs: list[tuple[str, str]]) -> list[Table]:
    total = needs[needs["org_type"] == TOTAL]
    by_field = Table(
        "Handlungsfelder, schwächstes zuerst (Insgesamt)",
        ["Rang", "Handlungsfeld", "Mittelwert", "Top-2-Anteil", "Gültige Antworten"],
    )
    for row in total[total["level"] == "handlungsfeld"].sort_values("rank").itertuples():
        by_field.rows.append(
            [
                _number(row.rank, german_int),
                Cell(f"{row.code} {row.label}"),
                _number(row.mean, _mean),
                _number(row.top2_share, _share),
                _number(row.n_valid, german_int),
            ]
        )
    by_item = Table(
        "Die zehn schwächsten Items (Insgesamt)",
        ["Rang", "Code", "Item", "Handlungsfeld", "Mittelwert", "Top-2-Anteil", "Gültige Antworten"],
    )
    for row in total[total["level"] == "item"].sort_values("rank").itertuples():
        by_item.rows.append(
            [
                _number(row.rank, german_int),
                Cell(str(row.code), "code"),
                Cell(str(row.label)),
                Cell(str(row.field_code)),
                _number(row.mean, _mean),
                _number(row.top2_share, _share),
                _number(row.n_valid, german_int),
            ]
        )
    by_org = Table(
        "Schwächstes Handlungsfeld und schwächste drei Items je Organisationsart",
        ["Organisationsart", "Schwächstes Handlungsfeld", "Schwächste Items"],
    )
    for org, label in orgs:
        mine = needs[needs["org_type"] == org]
        weakest = mine[(mine["level"] == "handlungsfeld") & (mine["rank"] == 1)]
        items = mine[(mine["level"] == "item") & (mine["rank"] <= 3)].sort_values("rank")
        by_org.rows.append(
            [
                Cell(label),
                Cell(_ranked(weakest, lambda r: f"{r.code} {r.label}")),
                Cell(_ranked(items, lambda r: str(r.code))),
            ]
        )
    return [by_field, by_item, by_org]


def _ranked(rows: pd.DataFrame, name: Callable[[object], str]) -> str:
    """Entries like "HF3 Fairer Zugang und Teilhabechancen (2,81)", weakest first."""
    parts = [f"{name(r)} ({_mean(r.mean)})" for r in rows.itertuples()]
    return "; ".join(parts) if parts else "kein veröffentlichter Mittelwert"


def _field_section(
    latest: dict[str, pd.DataFrame], code: str, label: str, orgs: list[tuple[str, str]], waves: Waves, number: int
) -> FieldSection:
    distribution = latest["item_distribution"][latest["item_distribution"]["field_code"] == code]
    items = latest["item_results"][latest["item_results"]["field_code"] == code]
    fields = latest["field_results"][latest["field_results"]["field_code"] == code]
    bars = charts.field_bars(distribution, items, orgs)
    chart_title = f"Antwortverteilung im Handlungsfeld {code} {label} nach Organisationsart"
    svg = charts.distribution_svg(bars, charts.category_labels(distribution), f"chart-{code}", chart_title)
    caption = (
        f"Abbildung {number}: {chart_title}, {waves.labels.get(waves.latest, '')}: Anteile an allen Antworten auf "
        "die Skalenfragen des Handlungsfelds (n = Antworten). Schraffiert „geheim“: gesperrte Anzahlen, "
        "zusammengefasst. Eine Organisationsart, deren Zahl der Antwortenden gesperrt ist, hat keinen Balken („.“)."
    )
    tables = [_field_table(fields[fields["level"] == "handlungsfeld"], orgs, waves)]
    themes = fields[fields["level"] == "thema"]
    if len(themes):
        tables.append(_theme_table(themes, orgs, waves))
    tables.append(_item_table(items, distribution, orgs, waves))
    choices = _choice_table(items, distribution, orgs)
    if choices is not None:
        tables.append(choices)
    texts = latest["free_text_counts"][latest["free_text_counts"]["field_code"] == code]
    by_org = _index(texts, "org_type")
    free = " · ".join(f"{name} {_number_text(by_org.get((org,)), 'n_texts', german_int)}" for org, name in orgs)
    return FieldSection(code, label, Markup(svg), caption, tables, free)


def _field_table(rows: pd.DataFrame, orgs: list[tuple[str, str]], waves: Waves) -> Table:
    table = Table(
        "Das Handlungsfeld nach Organisationsart",
        [
            "Organisationsart",
            "Befragte",
            "Gültige Antworten",
            "Mittelwert",
            "Top-2-Anteil",
            f"Veränderung Mittelwert {waves.since()}",
            "Veränderung Top-2-Anteil",
        ],
    )
    by_org = _index(rows, "org_type")
    for org, label in orgs:
        row = by_org.get((org,))
        table.rows.append(
            [
                Cell(label),
                *(
                    _status_cell(row, column, fmt)
                    for column, fmt in (
                        ("n_respondents", german_int),
                        ("n_valid", german_int),
                        ("mean", _mean),
                        ("top2_share", _share),
                        ("mean_change", _change),
                        ("top2_change", _points),
                    )
                ),
            ]
        )
    return table


def _theme_table(rows: pd.DataFrame, orgs: list[tuple[str, str]], waves: Waves) -> Table:
    themes = rows.drop_duplicates("theme_code").sort_values("theme_code")
    table = Table(
        f"Themen: Mittelwert (in Klammern: Veränderung {waves.since()})",
        ["Thema", *(label for _, label in orgs)],
    )
    by_theme = _index(rows, "theme_code", "org_type")
    for theme in themes.itertuples():
        cells = [Cell(str(theme.theme_label))]
        cells += [_mean_with_change(by_theme.get((theme.theme_code, org))) for org, _ in orgs]
        table.rows.append(cells)
    return table


def _item_table(rows: pd.DataFrame, distribution: pd.DataFrame, orgs: list[tuple[str, str]], waves: Waves) -> Table:
    """Scale items by their mean; yes/no items by the share of "ja" among those who answered ja or nein."""
    items = rows[rows["item_type"] != "multi"].drop_duplicates("item_code").sort_values("item_code")
    by_item = _index(rows, "item_code", "org_type")
    by_answer = _index(distribution, "item_code", "answer_code", "org_type")
    table = Table(
        f"Items: Mittelwert (in Klammern: Veränderung {waves.since()}); Ja/Nein-Fragen: Anteil „ja“ an den "
        "Antworten ja oder nein (in Klammern: Anzahl ja von ja und nein)",
        ["Code", "Item", "Art", *(label for _, label in orgs)],
    )
    for item in items.itertuples():
        cells = [
            Cell(str(item.item_code), "code"),
            Cell(str(item.item_label)),
            Cell(ITEM_TYPES.get(item.item_type, "")),
        ]
        for org, _ in orgs:
            if item.item_type == "yesno":
                yes, no = (by_answer.get((item.item_code, code, org)) for code in ("ja", "nein"))
                cells.append(_share_of(yes, [yes, no]))
            else:
                cells.append(_mean_with_change(by_item.get((item.item_code, org))))
        table.rows.append(cells)
    return table


def _choice_table(items: pd.DataFrame, distribution: pd.DataFrame, orgs: list[tuple[str, str]]) -> Table | None:
    """Multiple-choice items: per option the share of the item's respondents who chose it, with the count."""
    multi = items[items["item_type"] == "multi"]
    if not len(multi):
        return None
    by_item = _index(multi, "item_code", "org_type")
    by_answer = _index(distribution, "item_code", "answer_code", "org_type")
    options = distribution[distribution["item_code"].isin(set(multi["item_code"]))]
    options = options.drop_duplicates(["item_code", "answer_code"]).sort_values(["item_code", "answer_ordinal"])
    table = Table(
        "Mehrfachauswahl: Anteil der Antwortenden, die eine Option gewählt haben (in Klammern: Anzahl)",
        ["Code", "Frage", "Option", *(label for _, label in orgs)],
    )
    for option in options.itertuples():
        cells = [Cell(str(option.item_code), "code"), Cell(str(option.item_label)), Cell(str(option.answer_label))]
        for org, _ in orgs:
            chosen = by_answer.get((option.item_code, option.answer_code, org))
            cells.append(_share_of(chosen, [by_item.get((option.item_code, org))], base="n_answered"))
        table.rows.append(cells)
    return table


def _share_of(part: dict | None, whole: list[dict | None], base: str = "n") -> Cell:
    """part's count as a share of the sum of whole's counts (column `base`), made of published counts only: a
    hidden one hides the share ("."), nothing there gives "–"."""
    if part is None or any(row is None for row in whole):
        return Cell(NOTHING, "num")
    for row, column in ((part, "n"), *((row, base) for row in whole)):
        if row.get(f"{column}_status", "") in LEGEND:  # type: ignore[union-attr]
            status = row[f"{column}_status"]  # type: ignore[index]
            return Cell(status, "num " + ("geheim" if status == HIDDEN else "gesperrt"), LEGEND[status])
    total = sum(int(row[base]) for row in whole)  # type: ignore[index]
    if total == 0:
        return Cell(NOTHING, "num")
    count = int(part["n"])
    return Cell(_share(count / total), "num", note=f"({german_int(count)} von {german_int(total)})")


def _personal(distribution: pd.DataFrame, orgs: list[tuple[str, str]]) -> Table | None:
    rows = distribution[distribution["field_code"].isna()]
    if not len(rows):
        return None
    table = Table(
        "Anzahl der Antworten (besondere Kategorien nach Art. 9 DSGVO, nur geschützte Zahlen)",
        ["Code", "Frage", "Antwort", *(label for _, label in orgs)],
    )
    answers = rows.drop_duplicates(["item_code", "answer_code"]).sort_values(["item_code", "answer_ordinal"])
    by_answer = _index(rows, "item_code", "answer_code", "org_type")
    for answer in answers.itertuples():
        cells = [Cell(str(answer.item_code), "code"), Cell(str(answer.item_label)), Cell(str(answer.answer_label))]
        for org, _ in orgs:
            cells.append(_status_cell(by_answer.get((answer.item_code, answer.answer_code, org)), "n", german_int))
        table.rows.append(cells)
    return table


def _free_texts(texts: pd.DataFrame, orgs: list[tuple[str, str]], fields: list[tuple[str, str]]) -> Table:
    table = Table(
        "Personen mit einer Freitextantwort je Handlungsfeld (die Texte selbst bleiben intern)",
        ["Handlungsfeld", *(label for _, label in orgs)],
    )
    by_field = _index(texts, "field_code", "org_type")
    for code, label in fields:
        cells = [Cell(f"{code} {label}")]
        cells += [_status_cell(by_field.get((code, org)), "n_texts", german_int) for org, _ in orgs]
        table.rows.append(cells)
    return table


def _index(frame: pd.DataFrame, *columns: str) -> dict[tuple, dict]:
    """The rows of `frame` as dicts by the values of `columns` (looked up per table cell, so built once)."""
    index: dict[tuple, dict] = {}
    for record in frame.to_dict("records"):
        index.setdefault(tuple(record[c] for c in columns), record)
    return index


def _status_cell(row: dict | None, column: str, fmt: Callable[[object], str]) -> Cell:
    """The value as its status says: "." hidden, "x" not applicable, else formatted; "–" for no row at all."""
    if row is None:
        return Cell(NOTHING, "num")
    status = row.get(f"{column}_status", "")
    if status in LEGEND:
        return Cell(status, "num " + ("geheim" if status == HIDDEN else "gesperrt"), LEGEND[status])
    return _number(row[column], fmt)


def _number_text(row: dict | None, column: str, fmt: Callable[[object], str]) -> str:
    return _status_cell(row, column, fmt).text


def _number(value: object, fmt: Callable[[object], str]) -> Cell:
    return Cell(NOTHING if value is None or pd.isna(value) else fmt(value), "num")


def _mean_with_change(row: dict | None) -> Cell:
    mean = _status_cell(row, "mean", _mean)
    if row is None or row.get("mean_change_status", "") == NOT_APPLICABLE:
        return mean
    change = _status_cell(row, "mean_change", _change)
    if row.get("notable"):
        arrow = "▲" if float(row["mean_change"]) > 0 else "▼"
        return Cell(mean.text, mean.css + " deutlich", mean.title, f"{arrow} ({change.text})")
    return Cell(mean.text, mean.css, mean.title, f"({change.text})")


def _mean(value: object) -> str:
    return f"{float(value):.2f}".replace(".", ",")


def _share(value: object) -> str:
    return f"{100 * float(value):.0f} %"


def _change(value: object) -> str:
    return _signed(f"{float(value):+.2f}").replace(".", ",")


def _points(value: object) -> str:
    return _signed(f"{100 * float(value):+.0f}") + " Pp."


def _signed(text: str) -> str:
    """A change that rounds to zero has no direction ("±0,00", not "−0,00"); minus is the typographic one."""
    if text.strip("+-0.") == "":
        return "±" + text[1:]
    return text.replace("-", "−")
