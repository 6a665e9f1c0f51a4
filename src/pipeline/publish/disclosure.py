"""Disclosure control for the published tables: no cell may single out a respondent.

Unit of protection: one response. This is the foundation's rule set; cross-table complementary suppression
and the LP audit of a whole release build on it (the publishing issue):

- a group (wave × organisation type × item) with fewer than k respondents is suppressed whole;
- in a published group every answer count with 0 < n < k is suppressed (primary), and where that leaves a
  single hidden count, one other non-zero count is hidden too, so the group total cannot give the hidden one
  back (zeros are never used: hiding a 0 protects nothing). The partner is the count that costs least: one
  outside the scale ("weiß nicht", "keine Angabe") where there is one, so the mean can stay, else the
  smallest;
- once a count on the scale is hidden, the group's n_valid, mean and top-2 share are hidden as well: with
  n_valid and the mean, two hidden scale counts are two unknowns in two equations. Hidden counts outside
  the scale leave them untouched, as n_valid and the mean do not involve them;
- a Handlungsfeld row with fewer than k respondents, or a mean from fewer than k scale answers, is hidden.

Hidden values become NULL and the row's `status` is "." (the sign of German official statistics for
"Zahlenwert geheim zu halten"); all other rows have an empty status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GROUP = ["wave", "org_type", "item_code"]
HIDDEN = "."


@dataclass(frozen=True)
class Protected:
    item_results: pd.DataFrame
    item_distribution: pd.DataFrame
    field_results: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "item_results": self.item_results,
            "item_distribution": self.item_distribution,
            "field_results": self.field_results,
        }


def protect(
    item_results: pd.DataFrame, item_distribution: pd.DataFrame, field_results: pd.DataFrame, k: int
) -> Protected:
    dist = item_distribution.merge(item_results[[*GROUP, "n_answered"]], on=GROUP, how="left")
    hidden = _hidden_counts(dist, k)
    dist_out = item_distribution.assign(n=item_distribution["n"].astype("Int64").mask(hidden.to_numpy()))
    dist_out["status"] = pd.Series(hidden.to_numpy(), index=dist_out.index).map({True: HIDDEN, False: ""})

    on_scale = hidden & dist["answer_value"].notna()
    scale_hidden = on_scale.groupby([dist[c] for c in GROUP]).any().rename("scale_hidden").reset_index()
    results = item_results.merge(scale_hidden, on=GROUP, how="left")
    small = results["n_answered"] < k
    thin = (results["n_valid"] > 0) & (results["n_valid"] < k)
    detail_hidden = small | results["scale_hidden"].fillna(False).astype(bool) | thin
    out = item_results.copy()
    out["n_answered"] = out["n_answered"].astype("Int64").mask(small.to_numpy())
    out["n_valid"] = out["n_valid"].astype("Int64").mask(detail_hidden.to_numpy())
    out.loc[detail_hidden.to_numpy(), ["mean", "top2_share"]] = np.nan
    out["status"] = detail_hidden.map({True: HIDDEN, False: ""}).to_numpy()

    fields = field_results.copy()
    small_field = fields["n_respondents"] < k
    thin_mean = small_field | ((fields["n_valid"] > 0) & (fields["n_valid"] < k))
    fields["n_respondents"] = fields["n_respondents"].astype("Int64").mask(small_field)
    fields["n_valid"] = fields["n_valid"].astype("Int64").mask(thin_mean)
    fields.loc[thin_mean, ["mean", "top2_share"]] = np.nan
    fields["status"] = thin_mean.map({True: HIDDEN, False: ""})
    return Protected(out, dist_out, fields)


def _hidden_counts(dist: pd.DataFrame, k: int) -> pd.Series:
    """Which answer counts to hide: small groups whole, primary cells, and one partner for a lone primary."""
    keys = [dist[c] for c in GROUP]
    hidden = (dist["n_answered"] < k) | ((dist["n"] > 0) & (dist["n"] < k))
    lone = hidden.groupby(keys).transform("sum") == 1
    candidates = ~hidden & (dist["n"] > 0) & lone
    # Cost of hiding a candidate: counts on the scale cost the mean too, so they come after all others.
    cost = dist["n"] + dist["answer_value"].notna() * (dist["n"].max() + 1)
    partner_rank = cost.where(candidates).groupby(keys).rank(method="first")
    return hidden | (partner_rank == 1)
