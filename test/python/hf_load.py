#!/usr/bin/env python3
"""Loads downloaded Winnow releases with the Hugging Face `datasets` library, as a user would.

    python test/python/hf_load.py DIR

DIR holds releases as `test/node/duckdb-release.mjs --save DIR` lays them out:
DIR/<dataset>/<version>/ with README.md (the card), manifest.json and the data files at their
manifest paths. For every release and every config the card's YAML names:

- `load_dataset(<release dir>, <config>)`: the Hub's own resolution of the card's `configs` /
  `data_files` (Parquet), which must give exactly the manifest's Parquet rows for that config;
- `load_dataset("json", data_files=<the config's .jsonl.gz files>)`: the same row count;
- the chat columns are lists of {role, content} with the roles the config promises.

Exits 1 listing every mismatch.
"""
import json
import sys
from pathlib import Path

import datasets
from datasets import load_dataset

CHAT = {
    "default": {"messages": ["user", "assistant"]},
    "rejected": {"messages": ["user", "assistant"]},
    "pairs": {"prompt": ["user"], "chosen": ["assistant"], "rejected": ["assistant"]},
}

problems = []


def problem(msg):
    problems.append(msg)
    print(f"  ✗ {msg}")


def ok(msg):
    print(f"  ✓ {msg}")


def card_configs(readme: Path):
    """Config names from the card's YAML front matter, parsed the way the Hub does."""
    from huggingface_hub import DatasetCard

    data = DatasetCard.load(readme).data.to_dict()
    return [c["config_name"] for c in data.get("configs", [])]


def check_roles(ds, config, fmt):
    for column, want in CHAT.get(config, {}).items():
        if column not in ds.column_names:
            problem(f"{config} {fmt}: no column {column!r} (has {ds.column_names})")
            continue
        roles = {m["role"] for row in ds[column] for m in row}
        missing = [r for r in want if r not in roles]
        if missing:
            problem(f"{config} {fmt}: {column}.role has {sorted(roles)}, missing {missing}")
        else:
            ok(f"{config} {fmt}: {column} is a list of {{role, content}} with {', '.join(sorted(roles))}")


def check_release(path: Path):
    manifest = json.loads((path / "manifest.json").read_text())
    print(f"{manifest['dataset']} {manifest['version']}: datasets {datasets.__version__}")
    names = card_configs(path / "README.md")
    if "default" not in names:
        problem(f"the card's YAML names configs {names}, not 'default'")
    for config in names:
        files = [f for f in manifest["files"] if f.get("config") == config]
        want = sum(f["rows"] for f in files if f.get("format") == "parquet")
        try:
            ds = load_dataset(str(path), config, split="train")
        except Exception as e:  # noqa: BLE001 — any loader failure is the finding
            problem(f"{config}: load_dataset(<release dir>, {config!r}) failed: {e}")
            continue
        if ds.num_rows == want:
            ok(f"{config}: load_dataset(<release dir>, {config!r}) → {ds.num_rows} rows, as the manifest says")
        else:
            problem(f"{config}: load_dataset gives {ds.num_rows} rows, the manifest's Parquet files {want}")
        if ds.num_rows:
            check_roles(ds, config, "parquet")

        jsonl = sorted(str(path / f["path"]) for f in files if f.get("format") == "jsonl")
        if not jsonl:
            continue
        try:
            dj = load_dataset("json", data_files={"train": jsonl}, split="train")
        except Exception as e:  # noqa: BLE001
            problem(f"{config}: load_dataset('json', <its .jsonl.gz files>) failed: {e}")
            continue
        if dj.num_rows == ds.num_rows:
            ok(f"{config}: load_dataset('json') → {dj.num_rows} rows, the same as Parquet")
        else:
            problem(f"{config}: JSON gives {dj.num_rows} rows, Parquet {ds.num_rows}")
        if dj.num_rows:
            check_roles(dj, config, "jsonl")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    root = Path(sys.argv[1])
    releases = sorted(p.parent for p in root.glob("*/*/manifest.json"))
    if not releases:
        print(f"no releases under {root} (expected <dataset>/<version>/manifest.json)")
        sys.exit(1)
    datasets.disable_progress_bars()
    for r in releases:
        check_release(r)
    if problems:
        print(f"{len(problems)} problem(s) loading the releases with Hugging Face datasets:")
        for p in problems:
            print(f"  {p}")
        sys.exit(1)
    print("Hugging Face datasets loads the releases through the card's configs: row counts and chat columns agree")


if __name__ == "__main__":
    main()
