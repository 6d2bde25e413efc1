"""Route a few prompts with the bundled model and print each decision.

python examples/route_prompts.py                   # built-in defaults
python examples/route_prompts.py examples/router.yaml
"""

from __future__ import annotations

import sys

from sirp import SemanticRouter

PROMPTS = [
    "What is the height of Mt. Everest?",
    "Prove that there are infinitely many primes of the form 4k + 3.",
    [
        {"role": "user", "content": "My landlord kept my deposit without listing any damage."},
        {"role": "assistant", "content": "That may breach your tenancy agreement..."},
        {"role": "user", "content": "and can I take him to court for it?"},
    ],
]


def main() -> None:
    router = SemanticRouter.from_config(sys.argv[1]) if len(sys.argv) > 1 else SemanticRouter()
    with router:
        for prompt, decision in zip(PROMPTS, router.route_batch(PROMPTS), strict=True):
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            print(f"{text}\n  → {decision}\n    because: {'; '.join(t.detail for t in decision.trace)}")


if __name__ == "__main__":
    main()
