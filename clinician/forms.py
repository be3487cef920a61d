"""How a form shows a service's refusal: shared by the admin and the workspace pages, whose
forms parse and label input while every rule that must hold is the service's."""

from django import forms
from django.core.exceptions import ValidationError


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's errors on the form: on the field they name when the form has it, else at
    the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, errors in error.error_dict.items():
        messages = [message for item in errors for message in item.messages]
        form.add_error(field if field in form.fields else None, messages)
