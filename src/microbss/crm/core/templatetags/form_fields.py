"""``{% load form_fields %}{% form_field form.name %}``: one Bootstrap form row per field.

Renders the label, the widget with Bootstrap's classes (``is-invalid`` when the field has
errors), the errors and the help text, so templates stay short and every form looks the same.
"""

from __future__ import annotations

from typing import Any

from django import forms, template

register = template.Library()


def _widget_class(field: forms.BoundField) -> str:
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        return "form-check-input"
    if isinstance(widget, forms.Select | forms.SelectMultiple):
        return "form-select"
    return "form-control"


@register.inclusion_tag("core/_form_field.html")
def form_field(field: forms.BoundField, size: str = "") -> dict[str, Any]:
    is_radio = isinstance(field.field.widget, forms.RadioSelect)
    css = _widget_class(field)
    if size and css != "form-check-input":
        css += f" {css}-{size}"
    if field.errors:
        css += " is-invalid"
    attrs: dict[str, str] = {"class": css}
    if field.help_text:
        attrs["aria-describedby"] = f"{field.auto_id}_help"
    return {
        "field": field,
        "widget": "" if is_radio else field.as_widget(attrs=attrs),
        "is_radio": is_radio,
        "is_checkbox": css.startswith("form-check-input"),
    }
