"""PII precision / recall / F1 per entity: sirp's PII head next to presidio-analyzer's pattern recognizers.

    pip install presidio-analyzer          # the comparison only; no spaCy model is downloaded
    python scripts/guards/eval_pii.py --model runs/guards/export --out runs/guards/eval/pii.json

Sets: the held-out synthetic test split (``pii_test.jsonl``: templates and values never trained
on), the hand-written realistic messages (``tests/data/pii_realistic.txt``) and presidio's own
synthetic sentences (``presidio-pii/synth_dataset_v2.jsonl``, another generator: out of
distribution for both systems).

sirp runs through the runtime (``SignalExtractor`` on the model folder's int8 graph: decoding,
word widening and the Luhn / mod-97 / IP checks included). presidio's recognizers are called
directly (``AnalyzerEngine`` needs a spaCy model, which cannot be downloaded here), so it has no
PERSON and no STREET_ADDRESS; its DATE_TIME stands in for DATE_OF_BIRTH (it cannot tell a birth
date from another date: its precision there shows what context buys). A prediction is right
when it overlaps a gold span of the same entity (``strict``: same boundaries).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import span_prf  # noqa: E402
from realistic import read as read_realistic  # noqa: E402

from sirp.guards.pii import ENTITIES  # noqa: E402

#: presidio entity → ours
PRESIDIO_MAP = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "NATIONAL_ID",
    "UK_NINO": "NATIONAL_ID",
    "IT_FISCAL_CODE": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID",
    "ES_NIE": "NATIONAL_ID",
    "PL_PESEL": "NATIONAL_ID",
    "FI_PERSONAL_IDENTITY_CODE": "NATIONAL_ID",
    "SE_PERSONNUMMER": "NATIONAL_ID",
    "IN_AADHAAR": "NATIONAL_ID",
    "CA_SIN": "NATIONAL_ID",
    "DE_TAX_ID": "NATIONAL_ID",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "DATE_TIME": "DATE_OF_BIRTH",
}
#: labels of presidio's data set that are ours under another name (the rest are "don't care")
DATASET_MAP = {"PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN", "US_SSN": "NATIONAL_ID"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def presidio_predict(texts: list[str]) -> list[list[dict[str, Any]]]:
    """Spans from presidio's pattern recognizers, called directly."""
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    import tldextract
    from presidio_analyzer import predefined_recognizers as pr
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    # presidio's e-mail check looks the domain up in the public-suffix list, which tldextract
    # fetches over the network by default; use the snapshot shipped inside tldextract instead
    offline = tldextract.TLDExtract(suffix_list_urls=())
    email_recognizer.tldextract = type("_Offline", (), {"extract": staticmethod(offline)})

    names = [
        "CreditCardRecognizer",
        "EmailRecognizer",
        "IbanRecognizer",
        "IpRecognizer",
        "PhoneRecognizer",
        "UsSsnRecognizer",
        "UkNinoRecognizer",
        "ItFiscalCodeRecognizer",
        "EsNifRecognizer",
        "EsNieRecognizer",
        "PlPeselRecognizer",
        "FiPersonalIdentityCodeRecognizer",
        "SePersonnummerRecognizer",
        "InAadhaarRecognizer",
        "CaSinRecognizer",
        "DeTaxIdRecognizer",
        "DateRecognizer",
    ]
    recognizers = []
    for n in names:
        cls = getattr(pr, n, None)
        if cls is not None:
            try:
                recognizers.append(cls())
            except Exception as err:  # a recognizer that needs something absent here
                print(f"presidio {n}: skipped ({err})", file=sys.stderr)
    out = []
    for t in texts:
        spans = []
        for r in recognizers:
            for res in r.analyze(t, r.supported_entities, None) or []:
                ent = PRESIDIO_MAP.get(res.entity_type)
                if ent is not None:
                    spans.append({"entity": ent, "start": res.start, "end": res.end})
        out.append(spans)
    return out


def sirp_predict(model: Path, texts: list[str], threads: int) -> list[list[Any]]:
    """Spans from the model folder's PII head through sirp's runtime."""
    from sirp.backends.model_folder import ModelFolder
    from sirp.backends.onnx import OnnxBackend
    from sirp.backends.tokenization import Tokenizer
    from sirp.signals.classifier import SignalExtractor

    folder = ModelFolder.load(model)
    ext = SignalExtractor(folder, OnnxBackend(folder, threads=threads), Tokenizer.from_folder(folder))
    out: list[list[Any]] = []
    for s in range(0, len(texts), 16):
        out.extend(list(sig.pii_spans) for sig in ext.extract(texts[s : s + 16]))
    return out


def sets(data: Path, shared: Path) -> dict[str, list[dict[str, Any]]]:
    """The evaluation sets, gold spans in our labels."""
    presidio_rows = []
    for r in _jsonl(shared / "presidio-pii" / "synth_dataset_v2.jsonl"):
        spans = [{**s, "label": DATASET_MAP.get(s["label"], s["label"])} for s in r["spans"]]
        presidio_rows.append({"text": r["text"], "spans": spans})
    return {
        "synthetic-test": _jsonl(data / "pii_test.jsonl"),
        "realistic": read_realistic(),
        "presidio-synth": presidio_rows,
    }


def table(results: dict[str, Any], set_name: str) -> str:
    """Markdown: one row per entity, sirp and presidio side by side."""
    ours, theirs = results[set_name]["sirp"], results[set_name]["presidio"]
    lines = [
        "| entity | n | sirp P | sirp R | sirp F1 | presidio P | presidio R | presidio F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ent in [*ENTITIES, "micro"]:
        a, b = ours["relaxed"].get(ent), theirs["relaxed"].get(ent)
        if a is None or (a["support"] == 0 and a["predicted"] == 0):
            continue
        no_presidio = ent in ("PERSON", "STREET_ADDRESS")
        pb = "–" if no_presidio else f"{b['precision']:.2f}"
        rb = "–" if no_presidio else f"{b['recall']:.2f}"
        fb = "–" if no_presidio else f"{b['f1']:.2f}"
        lines.append(
            f"| {ent} | {int(a['support'])} | {a['precision']:.2f} | {a['recall']:.2f} | {a['f1']:.2f} "
            f"| {pb} | {rb} | {fb} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="model folder with a PII head")
    ap.add_argument("--data", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/eval/pii.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N rows of each set (0 = all)")
    a = ap.parse_args()
    results: dict[str, Any] = {}
    for name, rows in sets(a.data, a.shared).items():
        rows = rows[: a.limit] if a.limit else rows
        texts = [r["text"] for r in rows]
        preds = {"sirp": sirp_predict(a.model, texts, a.threads), "presidio": presidio_predict(texts)}
        results[name] = {"rows": len(rows)}
        for system, pred in preds.items():
            ents = (
                list(ENTITIES) if system == "sirp" else [e for e in ENTITIES if e not in ("PERSON", "STREET_ADDRESS")]
            )
            results[name][system] = {
                "relaxed": span_prf(rows, pred, entities=list(ENTITIES)),
                "strict": span_prf(rows, pred, entities=list(ENTITIES), strict=True),
                "micro_own_entities": span_prf(rows, pred, entities=ents)["micro"],
            }
        print(f"\n### {name} ({len(rows)} messages)\n\n{table(results, name)}")
        for system in ("sirp", "presidio"):
            m = results[name][system]["micro_own_entities"]
            s = results[name][system]["strict"]["micro"]
            print(
                f"{system}: micro F1 over its own entities {m['f1']:.3f} "
                f"(P {m['precision']:.3f}, R {m['recall']:.3f}); strict-boundary micro F1 over all {s['f1']:.3f}"
            )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
