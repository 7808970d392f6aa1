"""hosts.yml as the rest of bluegreen sees it: the model (``model.py``) and ``load``.

The pieces: ``model`` (the frozen typed classes), ``fields`` (a value checked against its
type by msgspec, the key named), ``values`` (checks a type cannot say), ``rules`` (what
depends on other keys or on files), ``secrets``, ``loading`` (the file and its YAML) and
``schema`` (the published JSON Schema).
"""

from bluegreen.config.loading import load
from bluegreen.config.model import (
    _APP_NAME,
    APP_NAME_MAX,
    COLORS,
    IMAGE_REFERENCE,
    LETSENCRYPT,
    App,
    AppProcess,
    Balancer,
    ContainerOptions,
    Drain,
    Expect,
    Health,
    Hooks,
    Host,
    Inventory,
    Metrics,
    Ports,
    Proxy,
    RegistryLogin,
    ScheduledJob,
    Secrets,
    Tls,
    Watch,
    Webhook,
    other,
)
from bluegreen.config.values import json_text
from bluegreen.errors import InventoryError

__all__ = [
    "_APP_NAME",
    "APP_NAME_MAX",
    "COLORS",
    "IMAGE_REFERENCE",
    "LETSENCRYPT",
    "App",
    "AppProcess",
    "Balancer",
    "ContainerOptions",
    "Drain",
    "Expect",
    "Health",
    "Hooks",
    "Host",
    "Inventory",
    "InventoryError",
    "Metrics",
    "Ports",
    "Proxy",
    "RegistryLogin",
    "ScheduledJob",
    "Secrets",
    "Tls",
    "Watch",
    "Webhook",
    "json_text",
    "load",
    "other",
]
