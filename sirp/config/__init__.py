"""Router configuration: typed models and their YAML loader."""

from sirp.config.loader import config_from_dict, config_from_yaml
from sirp.config.schema import (
    CategoryConfig,
    ClassifierConfig,
    ConversationConfig,
    DispatchConfig,
    ModelConfig,
    PolicyConfig,
    PrivacyConfig,
    ReasoningConfig,
    RouterConfig,
    TierConfig,
    ToolsConfig,
)

__all__ = [
    "CategoryConfig",
    "ClassifierConfig",
    "ConversationConfig",
    "DispatchConfig",
    "ModelConfig",
    "PolicyConfig",
    "PrivacyConfig",
    "ReasoningConfig",
    "RouterConfig",
    "TierConfig",
    "ToolsConfig",
    "config_from_dict",
    "config_from_yaml",
]
