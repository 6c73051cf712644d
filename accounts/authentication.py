"""How Kima's clients authenticate to the API: `X-API-Key` (the `ApiKey` table),
`Authorization: Bearer <JWT>` signed with JWT_SECRET, or the admin session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from accounts.models import ApiKey, User

# lastUsed is written at most this often per key, so API traffic is not a write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class JWTAuthentication(authentication.BaseAuthentication):
    """Kima's Bearer tokens: HS256 with JWT_SECRET, `userId` and `tokenVersion` claims.
    A token whose tokenVersion is not the user's current one (password changed, logged
    out everywhere) is refused."""

    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims = jwt.decode(token.strip(), settings.JWT_SECRET, algorithms=["HS256"],
                                options={"require": ["exp"]})  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise exceptions.AuthenticationFailed("Token expired") from None
        except jwt.InvalidTokenError:
            raise exceptions.AuthenticationFailed("Invalid token") from None
        if claims.get("type", "access") != "access" or "scope" in claims:
            # Kima signs refresh tokens and stream tickets with the same secret; only
            # access tokens open the API.
            raise exceptions.AuthenticationFailed("Not an access token")
        if not isinstance(claims.get("tokenVersion"), int):
            raise exceptions.AuthenticationFailed("Invalid token")
        user_id = claims.get("userId") or claims.get("sub")
        user = User.objects.filter(pk=user_id).first() if isinstance(user_id, str) else None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token")
        if claims["tokenVersion"] != user.token_version:
            raise exceptions.AuthenticationFailed("Token revoked")
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, Any] | None:
        key = request.headers.get("X-API-Key", "").strip()
        if not key:
            return None
        api_key = ApiKey.objects.select_related("user").filter(key=key).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key")
        now = timezone.now()
        if api_key.last_used is None or now - api_key.last_used > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
        return api_key.user, api_key


def issue_token(user: User, lifetime: timedelta = timedelta(hours=24)) -> str:
    """A token as Kima issues them (used by tests and by operators' scripts)."""
    now = timezone.now()
    claims = {"userId": user.pk, "username": user.username, "role": user.role,
              "tokenVersion": user.token_version, "iat": now, "exp": now + lifetime}  # fmt: skip
    return jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")


class IsKimaAdmin(permissions.BasePermission):
    message = "Admin access required"

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# --- OpenAPI descriptions of the two schemes (drf-spectacular) ---

from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


class JWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}
