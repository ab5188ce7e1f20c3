"""``python docs/walk/extract.py OUT``: the "own data" of the user walk: a natural 300-item extract
of the bundled Beauty dataset (the 300 most-reviewed items whose category path names Nails, with
every interaction they have), so most of its 5,716 users keep only 1 or 2 interactions, as in a
real extract. Writes ``OUT/items.jsonl`` and ``OUT/interactions.csv``."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

BEAUTY = Path(__file__).resolve().parents[2] / "resources" / "datasets" / "beauty"


def main(out: Path) -> None:
    items = pd.read_json(BEAUTY / "items.jsonl", lines=True)
    interactions = pd.read_csv(BEAUTY / "interactions.csv")
    popularity = interactions["item_id"].value_counts()
    nails = items[items["categories"].str.contains("Nails", na=False)]
    nails = nails.assign(reviews=nails["item_id"].map(popularity).fillna(0))
    nails = nails.sort_values(["reviews", "item_id"], ascending=[False, True]).head(300).drop(columns="reviews")
    kept = interactions[interactions["item_id"].isin(set(nails["item_id"]))]
    out.mkdir(parents=True, exist_ok=True)
    nails.to_json(out / "items.jsonl", orient="records", lines=True, force_ascii=False)
    kept.to_csv(out / "interactions.csv", index=False)
    per_user = kept["user_id"].value_counts()
    print(f"{len(nails)} items, {len(kept):,} interactions, {len(per_user):,} users "
          f"({int((per_user < 3).sum()):,} with fewer than 3)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
