"""The colours of a mean on the 1-5 scale, the same in the report's overview and the workbook: ColorBrewer's
PuOr, a diverging scale that readers with the common colour-vision deficiencies tell apart (orange for weak
results, where action is needed; purple for strong ones; near white in the middle)."""

from __future__ import annotations

# Five classes of equal width over 1..5, weakest first: (upper bound, background, text colour for contrast).
CLASSES = (
    (1.8, "#e66101", "#ffffff"),
    (2.6, "#fdb863", "#1d2733"),
    (3.4, "#f7f7f7", "#1d2733"),
    (4.2, "#b2abd2", "#1d2733"),
    (5.0, "#5e3c99", "#ffffff"),
)
LOWEST, HIGHEST = 1.0, 5.0


def colours(mean: float) -> tuple[str, str]:
    """Background and text colour of a mean."""
    for upper, background, text in CLASSES:
        if mean <= upper:
            return background, text
    return CLASSES[-1][1], CLASSES[-1][2]


def legend() -> list[tuple[str, str, str, str]]:
    """The classes as the report's legend shows them: (from, to, background, text), German decimals."""
    lowers = [LOWEST, *(upper for upper, _, _ in CLASSES[:-1])]
    return [
        (f"{low:.1f}".replace(".", ","), f"{upper:.1f}".replace(".", ","), background, text)
        for low, (upper, background, text) in zip(lowers, CLASSES, strict=True)
    ]
