"""Print the dev-split quantiles of the predicted gain that the default tier rule thresholds.

    python scripts/default_model/tune_policy.py [--model sirp/default_model]

The default ``policy.gain_threshold`` is the dev median: on exam-like traffic half the requests
go to the large tier (the operating point the PGR@50% figure scores). Tuned on dev, never test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sirp import SemanticRouter
from sirp.evaluation import datasets as ds
from sirp.evaluation.report import _signals


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--data-dir", type=Path, default=None)
    a = p.parse_args()
    router = SemanticRouter({"classifier": {"model": str(a.model)}} if a.model else None)
    dev = ds.mmlu_pro(ds.find_data_dir(a.data_dir), "dev")
    sigs = _signals(router.extractor, [e.text for e in dev])
    gain = np.array([s.success[ds.LLM_REFERENCE] - s.success[ds.SLM_REFERENCE] for s in sigs])
    for q in (0.3, 0.4, 0.5, 0.6, 0.7):
        print(f"share to large {1 - q:.0%}: gain_threshold {np.quantile(gain, q):.4f}")


if __name__ == "__main__":
    main()
