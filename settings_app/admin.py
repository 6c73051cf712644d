"""SystemSettings in the admin: one row, grouped by integration, secrets write-only,
each field's effective value and its source shown, connection tests as buttons."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import escape

from settings_app import connection_tests, services
from settings_app.models import SystemSettings
from settings_app.services import FIELDS, Field

PLAIN_FIELDS = [field.name for field in FIELDS if not field.secret]
SECRET_FIELDS = [field for field in FIELDS if field.secret]


def clear_name(field: Field) -> str:
    return f"clear_{field.name}"


def _secret_form_fields() -> dict[str, forms.Field]:
    """Write-only inputs: the stored value is never rendered; blank keeps it."""
    fields: dict[str, forms.Field] = {}
    for field in SECRET_FIELDS:
        fields[field.name] = forms.CharField(
            required=False,
            label=field.label,
            widget=forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "size": 60}
            ),
        )
        fields[clear_name(field)] = forms.BooleanField(
            required=False, label=f"Clear the stored {field.column}"
        )
    return fields


class _SettingsFormBase(forms.ModelForm):
    class Meta:
        model = SystemSettings
        fields = PLAIN_FIELDS
        widgets = {
            field.name: forms.TextInput(attrs={"size": 60})
            for field in FIELDS
            if field.kind in ("url", "path", "text")
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._describe_sources()

    def _describe_sources(self) -> None:
        services.invalidate()
        current = services.effective()
        for field in FIELDS:
            self.fields[field.name].label = field.label
            self.fields[field.name].help_text = _source_text(field, current, self.instance)

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        data = self.cleaned_data
        changes = {name: data.get(name) for name in PLAIN_FIELDS if name in self.changed_data}
        for field in SECRET_FIELDS:
            if data.get(field.name):
                changes[field.name] = data[field.name]
        clear = [field.name for field in SECRET_FIELDS if data.get(clear_name(field))]
        return changes, clear

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        changes, clear = self.changes()
        try:
            services.validate(changes, clear, current=self.instance)
        except services.SettingsValidationError as error:
            for name, problems in error.errors.items():
                self.add_error(name if name in self.fields else None, problems)
        return cleaned


SystemSettingsForm = type(
    "SystemSettingsForm", (_SettingsFormBase,), {"__module__": __name__, **_secret_form_fields()}
)


def _source_text(field: Field, current: services.EffectiveSettings, row: SystemSettings) -> str:
    source = current.source(field.name)
    where = {"database": "saved here", "environment": f"from {field.env}", "default": "default"}
    if field.secret:
        stored = (
            "A value is stored."
            if services.secret_is_stored(row, field.name)
            else ("Nothing stored.")
        )
        value = "set" if getattr(current, field.name) else "not set"
        text = f"{stored} Effective: {value} ({where[source]})."
    else:
        value = getattr(current, field.name)
        text = f"Effective: {'(empty)' if value is None else value} ({where[source]})."
    if field.env and source != "environment":
        text += f" Environment fallback: {field.env}."
    problem = current.problems.get(field.name)
    if problem:
        text += f" Problem: {problem}."
    # The admin renders help texts unescaped, and values here come from the API too.
    return escape(f"{field.help} {text}".strip())


# Django's permission groups mean nothing here: Kima's role decides who is an admin.
admin.site.unregister(Group)


@admin.register(SystemSettings)
class SystemSettingsAdmin(admin.ModelAdmin):
    form = SystemSettingsForm
    change_form_template = "admin/settings_app/systemsettings/change_form.html"
    save_as = False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        groups: dict[str, list[str]] = {}
        for field in FIELDS:
            names = groups.setdefault(field.group, [])
            names.append(field.name)
            if field.secret:
                names.append(clear_name(field))
        return [(group, {"fields": names}) for group, names in groups.items()]

    # --- a singleton: no add, no delete, the list opens the row ---

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        row = services.load_row()
        return HttpResponseRedirect(
            reverse("admin:settings_app_systemsettings_change", args=[row.pk])
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: Any = None) -> HttpResponse:  # fmt: skip
        services.load_row()
        if request.method == "GET":
            self._warn(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def _warn(self, request: HttpRequest) -> None:
        current = services.effective()
        if current.lidarr_enabled and not current.webhook_auth_configured:
            messages.warning(
                request,
                "Lidarr webhooks are accepted without authentication: set a webhook secret "
                "or a webhook user name and password.",
            )
        for name, problem in current.problems.items():
            messages.warning(request, f"{services.BY_NAME[name].column}: {problem}")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        changes, clear = form.changes()
        saved = services.update(changes, clear)
        obj.__dict__.update(saved.__dict__)  # what the admin shows and logs next

    # --- connection tests ---

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("test-lidarr/", wrap(self.test_lidarr_view),
                 name="settings_app_systemsettings_test_lidarr"),
            path("test-slskd/", wrap(self.test_slskd_view),
                 name="settings_app_systemsettings_test_slskd"),
            path("register-lidarr-webhook/", wrap(self.register_webhook_view),
                 name="settings_app_systemsettings_register_webhook"),
            *super().get_urls(),
        ]  # fmt: skip

    def test_lidarr_view(self, request: HttpRequest) -> HttpResponse:
        return self._run_test(request, connection_tests.check_lidarr)

    def test_slskd_view(self, request: HttpRequest) -> HttpResponse:
        return self._run_test(request, connection_tests.check_slskd)

    def register_webhook_view(self, request: HttpRequest) -> HttpResponse:
        return self._run_test(request, connection_tests.register_lidarr_webhook)

    def _run_test(self, request: HttpRequest, check: Any) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            return HttpResponse("Method not allowed", status=405)
        services.invalidate()
        result = check(services.effective())
        messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR,
                             result.message)  # fmt: skip
        return HttpResponseRedirect(reverse("admin:settings_app_systemsettings_changelist"))
