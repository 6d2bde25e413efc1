"""Router configuration: typed models and their YAML loader."""

from sirp.config.loader import config_from_dict, config_from_yaml
from sirp.config.schema import (
    ClassifierConfig,
    ConversationConfig,
    DispatchConfig,
    ModelConfig,
    PolicyConfig,
    ReasoningConfig,
    RouterConfig,
    TierConfig,
)

__all__ = [
    "ClassifierConfig",
    "ConversationConfig",
    "DispatchConfig",
    "ModelConfig",
    "PolicyConfig",
    "ReasoningConfig",
    "RouterConfig",
    "TierConfig",
    "config_from_dict",
    "config_from_yaml",
]
