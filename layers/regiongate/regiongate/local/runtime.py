"""Load function handlers from template.yaml and give them their environment, locally."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from regiongate.local.template import Template
from regiongate.settings import settings

_MODULES: dict[tuple[Path, int], ModuleType] = {}


def local_overrides(data_dir: Path) -> dict[str, str]:
    """What differs from AWS locally: the bundled database, and a key file instead of SSM."""
    return {
        "REGIONGATE_GEO_DATABASES": "",
        "REGIONGATE_IP_HASH_KEY_PARAMETER": "",
        "REGIONGATE_IP_HASH_KEY_FILE": str(data_dir / "ip-hash.key"),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": settings().local_log_level,
        "POWERTOOLS_METRICS_DISABLED": "1",
    }


def load_handler_module(path: Path, instance: int = 0) -> ModuleType:
    """Import a function's ``app.py`` under a unique name (every function's file is app.py).

    Each ``instance`` is a separate copy of the module, as separate Lambda execution
    environments would hold: module-level state (the resolver's current event) is not shared.
    """
    path = path.resolve()
    module = _MODULES.get((path, instance))
    if module is None:
        name = f"regiongate_function_{path.parent.name}_{instance}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _MODULES[(path, instance)] = module
    return module


def handler(
    template: Template, logical_id: str, instance: int = 0
) -> Callable[[dict[str, Any], Any], Any]:
    props = template.function(logical_id)
    attribute = str(props["Handler"]).rsplit(".", 1)[1]
    handle: Callable[[dict[str, Any], Any], Any] = getattr(
        load_handler_module(template.handler_file(logical_id), instance), attribute
    )
    return handle


class LambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = "local"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000
