"""Kima's users and API keys, on Kima's own `User` and `ApiKey` tables."""

from typing import Any

import bcrypt
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from kima.db import CurrentTimestamp, KimaDateTimeField, KimaIdField, UniqueTextField

# Node's bcrypt (what Kima uses) hashes only the first 72 bytes; the Python library
# refuses longer input, so we cut exactly where Node does.
BCRYPT_MAX_BYTES = 72
BCRYPT_ROUNDS = 10  # Kima's cost factor


def _bcrypt_bytes(raw_password: str) -> bytes:
    return raw_password.encode()[:BCRYPT_MAX_BYTES]


class Role(models.TextChoices):
    USER = "user", "User"
    ADMIN = "admin", "Admin"


class UserManager(BaseUserManager["User"]):
    def create_user(self, username: str, password: str | None = None, **extra: Any) -> "User":
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username, **extra)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> "User":
        extra["role"] = Role.ADMIN
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser):
    """A Kima account. Passwords are Node-compatible bcrypt hashes in `passwordHash`.

    Role `admin` makes the user staff and superuser in Django's admin. Columns owned by
    other parts of Kima are modelled so that rows created here carry Kima's defaults.
    """

    id = KimaIdField()
    username = UniqueTextField()
    password = models.TextField(db_column="passwordHash")
    role = models.TextField(choices=Role.choices, default=Role.USER, db_default=Role.USER)
    onboarding_complete = models.BooleanField(
        db_column="onboardingComplete", default=False, db_default=False
    )
    enrichment_settings = models.JSONField(db_column="enrichmentSettings", null=True, blank=True)
    two_factor_enabled = models.BooleanField(
        db_column="twoFactorEnabled", default=False, db_default=False
    )
    two_factor_secret = models.TextField(db_column="twoFactorSecret", null=True, blank=True)
    two_factor_recovery_codes = models.TextField(
        db_column="twoFactorRecoveryCodes", null=True, blank=True
    )
    mood_mix_params = models.JSONField(db_column="moodMixParams", null=True, blank=True)
    token_version = models.IntegerField(db_column="tokenVersion", default=0, db_default=0)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )

    # Kima has no last-login column; removing the inherited field keeps Django from
    # writing one (django.contrib.auth then skips its last-login update).
    last_login = None

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "User"
        constraints = [
            models.UniqueConstraint(fields=["username"], name="User_username_key"),
        ]

    def __str__(self) -> str:
        return self.username

    # --- passwords: bcrypt as Kima writes it, no Django algorithm prefix ---

    def set_password(self, raw_password: str | None) -> None:
        if raw_password is None:
            self.set_unusable_password()
            return
        salt = bcrypt.gensalt(rounds=BCRYPT_ROUNDS)
        self.password = bcrypt.hashpw(_bcrypt_bytes(raw_password), salt).decode()
        # A new password signs every existing Kima token out, as Kima does.
        self.token_version = (self.token_version or 0) + 1
        self._password = raw_password

    def check_password(self, raw_password: str) -> bool:
        if not raw_password or not self.password.startswith("$2"):
            return False
        try:
            return bcrypt.checkpw(_bcrypt_bytes(raw_password), self.password.encode())
        except ValueError:  # a malformed stored hash is a failed login, not a crash
            return False

    def has_usable_password(self) -> bool:
        return self.password.startswith("$2")

    # --- what Django's admin asks of a user ---

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_admin

    @property
    def is_active(self) -> bool:
        return True

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_admin

    def has_perms(self, perm_list: Any, obj: object = None) -> bool:
        return self.is_admin

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_admin


class ApiKey(models.Model):
    """A key sent by Kima's clients in `X-API-Key`."""

    id = KimaIdField()
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        db_column="userId",
        db_constraint=False,  # the constraint is Kima's `ApiKey_userId_fkey` (migrations)
        db_index=False,
        related_name="api_keys",
    )
    key = UniqueTextField()
    name = models.TextField()
    last_used = KimaDateTimeField(
        db_column="lastUsed", default=timezone.now, db_default=CurrentTimestamp()
    )
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )

    class Meta:
        db_table = "ApiKey"
        constraints = [models.UniqueConstraint(fields=["key"], name="ApiKey_key_key")]
        indexes = [
            models.Index(fields=["key"], name="ApiKey_key_idx"),
            models.Index(fields=["last_used"], name="ApiKey_lastUsed_idx"),
            models.Index(fields=["user"], name="ApiKey_userId_idx"),
        ]

    def __str__(self) -> str:
        return self.name
