"""Docker log rotation merged into /etc/docker/daemon.json, keeping everything already there.

Docker's default json-file logs grow without bound. The merge only adds what is missing:
an operator's own log driver or sizes win, and every other key stays as it was.
"""

from __future__ import annotations

import json

from bluegreen.errors import DockerConfigError

LOG_DRIVER = "json-file"
LOG_OPTS = {"max-size": "10m", "max-file": "3"}


def merge_log_rotation(text: str) -> str | None:
    """The new daemon.json text with log rotation, or None when nothing needs to change.

    No file (empty text) counts as ``{}``. A different ``log-driver`` chosen by the
    operator (journald, local, ...) is left alone: json-file options would not apply to it.
    """
    try:
        config = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise DockerConfigError(
            f"daemon.json is not valid JSON (line {error.lineno}: {error.msg}); fix it by hand"
        ) from None
    if not isinstance(config, dict):
        raise DockerConfigError("daemon.json is not a JSON object; fix it by hand")
    driver = config.setdefault("log-driver", LOG_DRIVER)
    if driver != LOG_DRIVER:
        return None
    options = config.setdefault("log-opts", {})
    if not isinstance(options, dict):
        raise DockerConfigError("daemon.json: log-opts is not an object; fix it by hand")
    for key, value in LOG_OPTS.items():
        options.setdefault(key, value)
    merged = json.dumps(config, indent=2) + "\n"
    return None if text.strip() and json.loads(text) == config else merged
