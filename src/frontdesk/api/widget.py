"""The widget document (``GET configuration``) with the tenant's forms in it.

Bright Pattern's web widget renders the form an agent pushes or a scenario shows
(``chat_session_form_show``) from ``definition.forms`` of this document. frontdesk's default
document lists the tenant's forms there in the shape the widget reads (docs/customer-api.md):

    {"id": <form name>, "name": <form name>, "title": ..., "urls": {"0": "/"},
     "submitButtonText": "Submit", "cancelButtonText": "Cancel",
     "fields": [{"name", "label", "formFieldType", "required", "validate", "options"?,
                 "minValue"?, "maxValue"?}]}

A document the operator configured for the entry is served as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from frontdesk.domain.config import EntryConfig, FormConfig, FormField, TenantConfig, default_widget_configuration
from frontdesk.domain.scenario_values import RATING_RANGE

# frontdesk field type → the widget's formFieldType (js/client-chat-page/generateInputs.js)
FIELD_TYPES = {"text": "text", "email": "email", "phone": "phone", "number": "text",
               "choice": "selection_list", "rating": "numerical_range_slider"}


def widget_document(tenant: TenantConfig, entry: EntryConfig) -> dict[str, Any]:
    """The entry's widget document; the default one carries the tenant's forms."""
    document = entry.widget_configuration
    if not tenant.forms or document != default_widget_configuration():
        return document
    published = copy.deepcopy(document)
    published["definition"]["forms"] = widget_forms(tenant.forms.values())
    return published


def widget_forms(forms: Iterable[FormConfig]) -> list[dict[str, Any]]:
    return [{"id": form.name, "name": form.name, "title": form.title or form.name, "urls": {"0": "/"},
             "submitButtonText": "Submit", "cancelButtonText": "Cancel",
             "fields": [_field(f) for f in form.fields]} for form in forms]


def _field(field: FormField) -> dict[str, Any]:
    item: dict[str, Any] = {"name": field.name, "label": field.label or field.name,
                            "formFieldType": FIELD_TYPES.get(field.type, "text"), "required": field.required,
                            "validate": field.type in ("email", "phone")}
    if field.type == "choice":
        item["options"] = list(field.choices)
    if field.type == "rating":
        item["minValue"], item["maxValue"] = RATING_RANGE
    return item
