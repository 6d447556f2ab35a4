"""The JSON Schema of the configuration file, generated from the models: docs/config.schema.json.

``python -m frontdesk.settings.schema > docs/config.schema.json`` writes it; a test fails when the
published file is stale. The schema describes the shape (keys, types, bounds); the names tables give
each other (queues, labels, template names) are checked by frontdesk itself (``frontdesk check-config``).
"""

from __future__ import annotations

import json
from typing import Any

from frontdesk.settings.load import FileModel


def config_schema() -> dict[str, Any]:
    schema = FileModel.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": "frontdesk configuration file",
            "description": "The TOML configuration file of frontdesk (docs/configuration.md)."}


def schema_text() -> str:
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
