"""Guards: PII spans and masking, jailbreak / prompt-injection verdicts.

The heads that find them run in the classifier's one pass (``sirp.signals``); this package
turns their outputs into spans (:mod:`sirp.guards.pii`), decides what the policy's privacy and
jailbreak rules do with them, and masks messages before they leave (:mod:`sirp.guards.apply`).
"""
