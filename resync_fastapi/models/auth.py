"""Request and response bodies of ``/auth`` and ``/users``."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from resync_fastapi.core.validation import SPACE_CLASS, bounded_text, choice, pattern
from resync_fastapi.models.common import Timestamp

__all__ = ["LoginIn", "RefreshIn", "TokenPairOut", "UserCreateIn", "UserOut"]

Credential = Annotated[
    StrictStr,
    AfterValidator(bounded_text(1, 128)),
    Field(json_schema_extra={"minLength": 1, "maxLength": 128}),
]


EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
# The same shape for the OpenAPI document, with Python's white space spelled out.
_NOT_AT_OR_SPACE = f"[^@{SPACE_CLASS}]+"
EMAIL_SCHEMA_PATTERN = f"^{_NOT_AT_OR_SPACE}@{_NOT_AT_OR_SPACE}\\.{_NOT_AT_OR_SPACE}$"


def _check_email(value: str | None) -> str | None:
    if value is None:
        return None
    bounded_text(None, 254)(value)
    return pattern(EMAIL_PATTERN, "Must be an email address.")(value)


class LoginIn(BaseModel):
    """Credentials (also accepted as the OAuth2 password form)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "operator", "password": "resync-operator-dev"}]
        }
    )

    username: Credential
    password: Credential


class RefreshIn(BaseModel):
    """A refresh token to trade for a new pair."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "eyJhbGciOi..."}]})

    refresh_token: StrictStr


class TokenPairOut(BaseModel):
    """An access token (30 minutes) and its refresh token (7 days)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "token_type": "bearer",
                    "expires_in": 1800,
                }
            ]
        }
    )

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = 1800


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "username": "operator",
                    "role": "operator",
                    "full_name": "Demo Operator",
                    "email": "operator@resync.example",
                    "created_at": "2026-11-26T10:00:00Z",
                }
            ]
        }
    )

    id: int
    username: str
    role: str
    full_name: str
    email: str | None
    created_at: Timestamp


class UserCreateIn(BaseModel):
    """A new user."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "night_shift",
                    "password": "correct-horse-battery",
                    "role": "operator",
                    "full_name": "Night Shift",
                    "email": "night@resync.example",
                }
            ]
        }
    )

    username: Annotated[
        StrictStr,
        AfterValidator(
            pattern(r"[a-z0-9_-]{3,32}", "Must be 3 to 32 characters of a-z, 0-9, '_' or '-'.")
        ),
        Field(json_schema_extra={"pattern": "^[a-z0-9_-]{3,32}$"}),
    ]
    password: Annotated[
        StrictStr,
        AfterValidator(bounded_text(12, 128)),
        Field(json_schema_extra={"minLength": 12, "maxLength": 128}),
    ]
    role: Annotated[
        StrictStr,
        AfterValidator(choice("viewer", "operator", "admin")),
        Field(json_schema_extra={"enum": ["viewer", "operator", "admin"]}),
    ]
    full_name: Annotated[
        StrictStr,
        AfterValidator(bounded_text(None, 100)),
        Field(json_schema_extra={"maxLength": 100}),
    ] = ""
    # The address shape is a pattern, not ``format: email``: the check is this loose
    # ``x@y.z`` shape, and a generator's idea of an e-mail address is not the server's.
    email: Annotated[
        StrictStr | None,
        AfterValidator(_check_email),
        Field(json_schema_extra={"maxLength": 254, "pattern": EMAIL_SCHEMA_PATTERN}),
    ] = None
