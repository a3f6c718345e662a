#!/usr/bin/env python3
"""Run Evidently's DataDriftPreset on every case written by the quality_bench example and compare its
per-column drift verdicts with ours (ours.jsonl). Prints agreement, Evidently's own precision/recall on the
drift-labelled cases, and the time per case.

Usage: evidently_drift.py CASES_DIR
"""
import json
import sys
import time
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

NUMERIC = ["price", "quantity", "density"]
CATEGORICAL = ["material", "unit", "is_generic"]
DRIFT_LABELS = {"numeric_drift": {"price"}, "categorical_drift": {"material"}}


def drifted_columns(snapshot):
    """Columns Evidently flags: ValueDrift metrics whose score crosses its threshold."""
    out = set()
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            column = config["column"]
            value = metric["value"]
            threshold = config.get("threshold")
            method = (config.get("method") or "").lower()
            if threshold is None:
                continue
            # p-value tests drift when below the threshold, distances when at or above it.
            is_p_value = "p_value" in method or "test" in method and "distance" not in method
            if (value < threshold) if is_p_value else (value >= threshold):
                out.add(column)
    return out


def main():
    root = Path(sys.argv[1])
    ours = {}
    for line in (root / "ours.jsonl").read_text().splitlines():
        rec = json.loads(line)
        ours[rec["case"]] = rec
    dtypes = {"material": "string", "unit": "string", "is_generic": "string"}
    agree = total = 0
    ev_tp = ev_fp = ev_fn = 0
    our_tp = our_fp = our_fn = 0
    seconds = []
    our_seconds = []
    for case_dir in sorted((root / "cases").iterdir()):
        case = case_dir.name
        ref = pd.read_csv(case_dir / "reference.csv", dtype=dtypes)
        cur = pd.read_csv(case_dir / "current.csv", dtype=dtypes)
        # The schema case renames a column: compare the columns both frames have.
        present = [c for c in NUMERIC + CATEGORICAL if c in ref and c in cur and cur[c].notna().any()]
        definition = DataDefinition(
            numerical_columns=[c for c in NUMERIC if c in present],
            categorical_columns=[c for c in CATEGORICAL if c in present],
        )
        ref, cur = ref[present], cur[present]
        t = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
        )
        ev = drifted_columns(snapshot)
        seconds.append(time.perf_counter() - t)
        rec = ours[case]
        our_seconds.append(rec["seconds"])
        mine = set(rec["drifted_columns"])
        for col in present:
            total += 1
            agree += (col in ev) == (col in mine)
        expected = DRIFT_LABELS.get(rec["label"], set())
        for col in present:
            for found, counts in ((col in ev, "ev"), (col in mine, "our")):
                truth = col in expected
                key = ("tp" if truth else "fp") if found else ("fn" if truth else None)
                if key == "tp":
                    if counts == "ev":
                        ev_tp += 1
                    else:
                        our_tp += 1
                elif key == "fp":
                    if counts == "ev":
                        ev_fp += 1
                    else:
                        our_fp += 1
                elif key == "fn":
                    if counts == "ev":
                        ev_fn += 1
                    else:
                        our_fn += 1

    def pr(tp, fp, fn):
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        return p, r

    n = len(seconds)
    print(f"Evidently {__import__('evidently').__version__} DataDriftPreset vs post-sync on {n} cases, {total} case-columns")
    print(f"per-column drift agreement: {agree}/{total} = {agree / total:.1%}")
    print("column-level drift detection (truth: price in numeric_drift cases, material in categorical_drift cases):")
    for name, (tp, fp, fn) in (("evidently", (ev_tp, ev_fp, ev_fn)), ("post-sync", (our_tp, our_fp, our_fn))):
        p, r = pr(tp, fp, fn)
        print(f"  {name:<10} TP {tp:>3} FP {fp:>3} FN {fn:>3} precision {p:.2f} recall {r:.2f}")
    ev_ms = 1000 * sorted(seconds)[n // 2]
    our_ms = 1000 * sorted(our_seconds)[n // 2]
    print(f"median time per case: evidently {ev_ms:.1f} ms (drift only, data already in pandas) vs "
          f"post-sync {our_ms:.1f} ms (profile the sync + all checks); ratio {ev_ms / our_ms:.1f}x")


if __name__ == "__main__":
    main()
