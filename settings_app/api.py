"""`/api/system-settings` (Kima's path): admins read and change the integration settings.

Secrets are write-only: a stored secret reads as "********" (null when unset); sending
it back, or a blank, keeps it; `"clear": ["lidarrApiKey"]` removes it (and unsets any
other nullable field, so that its environment variable applies again).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import IsKimaAdmin
from settings_app import connection_tests, services
from settings_app.services import BY_COLUMN, FIELDS, MASK


def _schema_field(field: services.Field) -> serializers.Field:
    options = {"required": False, "allow_null": True, "help_text": field.help or None}
    if field.kind == "bool":
        return serializers.BooleanField(**options)
    if field.kind == "int":
        return serializers.IntegerField(min_value=field.minimum, max_value=field.maximum, **options)
    if field.kind == "choice":
        return serializers.ChoiceField(choices=field.choices, **options)
    if field.secret:
        options["help_text"] = f"Write-only; reads as {MASK} when set."
    return serializers.CharField(**options)


SettingsSchema = type(
    "SystemSettings",
    (serializers.Serializer,),
    {field.column: _schema_field(field) for field in FIELDS},
)
SettingsPatchSchema = type(
    "SystemSettingsPatch",
    (SettingsSchema,),
    {"clear": serializers.ListField(child=serializers.CharField(), required=False)},
)
ConnectionResultSchema = inline_serializer(
    "ConnectionResult",
    {
        "ok": serializers.BooleanField(),
        "message": serializers.CharField(),
        "details": serializers.DictField(),
    },  # fmt: skip
)


def settings_body() -> dict[str, Any]:
    row = services.load_row()
    services.invalidate()
    current = services.effective()
    body: dict[str, Any] = {}
    effective: dict[str, Any] = {}
    for field in FIELDS:
        if field.secret:
            body[field.column] = MASK if services.secret_is_stored(row, field.name) else None
            effective[field.column] = {"isSet": bool(getattr(current, field.name)),
                                       "source": current.source(field.name)}  # fmt: skip
        else:
            body[field.column] = getattr(row, field.name)
            effective[field.column] = {"value": getattr(current, field.name),
                                       "source": current.source(field.name)}  # fmt: skip
    body["effective"] = effective
    body["problems"] = {services.BY_NAME[k].column: v for k, v in current.problems.items()}
    return body


def _parse_patch(data: Any) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(data, dict):
        raise ValidationError({"error": "The body must be a JSON object"})
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for column, value in data.items():
        if column == "clear":
            continue
        field = BY_COLUMN.get(column)
        if field is None:
            errors[column] = ["is not a setting that can be changed here"]
        else:
            changes[field.name] = value
    clear_columns = data.get("clear", [])
    if not isinstance(clear_columns, list) or not all(isinstance(c, str) for c in clear_columns):
        errors["clear"] = ["must be a list of field names"]
        clear_columns = []
    clear = []
    for column in clear_columns:
        if column in BY_COLUMN:
            clear.append(BY_COLUMN[column].name)
        else:
            errors.setdefault("clear", []).append(f"{column} is not a setting")
    if errors:
        raise ValidationError({"error": "Invalid settings", "fields": errors})
    return changes, clear


class SystemSettingsView(APIView):
    permission_classes = [IsKimaAdmin]

    @extend_schema(responses=SettingsSchema, summary="Read the integration settings")
    def get(self, request: Request) -> Response:
        return Response(settings_body())

    @extend_schema(request=SettingsPatchSchema, responses=SettingsSchema,
                   summary="Change some integration settings")  # fmt: skip
    def patch(self, request: Request) -> Response:
        changes, clear = _parse_patch(request.data)
        try:
            services.update(changes, clear)
        except services.SettingsValidationError as error:
            fields = {services.BY_NAME[k].column if k in services.BY_NAME else k: v
                      for k, v in error.errors.items()}  # fmt: skip
            raise ValidationError({"error": "Invalid settings", "fields": fields}) from error
        return Response(settings_body())


class ConnectionTestView(APIView):
    permission_classes = [IsKimaAdmin]
    check = staticmethod(connection_tests.check_lidarr)

    @extend_schema(request=None, responses=ConnectionResultSchema,
                   summary="Test the saved connection settings")  # fmt: skip
    def post(self, request: Request) -> Response:
        services.invalidate()
        return Response(self.check(services.effective()).as_dict())


class LidarrConnectionTestView(ConnectionTestView):
    check = staticmethod(connection_tests.check_lidarr)


class SlskdConnectionTestView(ConnectionTestView):
    check = staticmethod(connection_tests.check_slskd)


class RegisterLidarrWebhookView(ConnectionTestView):
    check = staticmethod(connection_tests.register_lidarr_webhook)
