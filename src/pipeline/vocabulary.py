"""The words every part of a publication shares: the marts it publishes, the margin over organisation types
and the status markers beside every published value (those of German official statistics)."""

from __future__ import annotations

MARTS = ("item_distribution", "item_results", "field_results", "free_text_counts")

# The margin over organisation types: a row of every mart, a part of every cell key, the sum over the real types.
TOTAL = "insgesamt"

# Organisation types too small to be published alone, published together (disclosure/grouping.py).
MERGED, MERGED_LABEL = "weitere", "Weitere Organisationen"

# A value's status: published, hidden ("Zahlenwert geheim zu halten"), not applicable ("Tabellenfach gesperrt").
PUBLISHED, HIDDEN, NOT_APPLICABLE = "", ".", "x"
