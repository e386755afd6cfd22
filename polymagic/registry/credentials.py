"""Registry credentials, read from a docker config (the ``config.json`` Kaniko reads).

A user and password, an identity (refresh) token or a registry (bearer) token; they are never
logged, never put in a message, and hidden from ``repr``. Pure: the config is given as a mapping.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from polymagic.errors import ConnectionsError
from polymagic.registry.reference import DOCKER_HUB_NAMES

__all__ = ["RegistryAuth", "basic_value", "redact", "secret_strings"]

_DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True, repr=False)
class RegistryAuth:
    """Credentials for one registry: a user and password, an identity (refresh) token, or a
    registry (bearer) token. ``repr`` never shows them."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    def __repr__(self) -> str:
        kinds = [
            kind
            for kind, value in (
                ("password", self.password),
                ("identity_token", self.identity_token),
                ("registry_token", self.registry_token),
            )
            if value
        ]
        return f"RegistryAuth({', '.join(kinds) or 'empty'}; values hidden)"

    __str__ = __repr__

    @property
    def has_basic(self) -> bool:
        """True when a user and password can be sent with HTTP Basic authentication."""
        return bool(self.username) and self.password is not None

    @classmethod
    def from_docker_config(
        cls, config: Mapping[str, Any], registry_host: str
    ) -> RegistryAuth | None:
        """The credentials a docker config JSON holds for ``registry_host``, or None.

        Entries match as Docker matches them: the exact key, then any key whose host (after an
        ``http(s)://`` scheme, before the first ``/``) is the registry's; Docker Hub's names
        (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``, the ``https://index.docker.io/v1/``
        key) are one registry. Credential helpers (``credsStore``, ``credHelpers``) are not run.
        """
        if not isinstance(config, Mapping):
            raise ConnectionsError("the docker config must be a JSON object")
        auths = config.get("auths")
        if auths is None and "credsStore" not in config and "credHelpers" not in config:
            # The legacy ~/.dockercfg (and `kubernetes.io/dockercfg`) form: hosts at the top level.
            auths = {k: v for k, v in config.items() if isinstance(v, Mapping)}
        if auths is None:
            return None
        if not isinstance(auths, Mapping):
            raise ConnectionsError("the docker config's `auths` must be a JSON object")
        for key in _matching_keys(auths, registry_host):
            entry = auths[key]
            if not isinstance(entry, Mapping):
                raise ConnectionsError(f"the docker config entry for `{key}` must be a JSON object")
            found = _entry_auth(key, entry)
            if found is not None:
                return found
        return None


def basic_value(auth: RegistryAuth) -> str:
    """The value of an HTTP Basic ``Authorization`` header for ``auth``'s user and password."""
    raw = f"{auth.username}:{auth.password}".encode()
    return base64.b64encode(raw).decode("ascii")


def secret_strings(auth: RegistryAuth | None) -> tuple[str, ...]:
    """Every secret ``auth`` holds (and the base64 form sent on the wire), for redaction."""
    if auth is None:
        return ()
    values = [v for v in (auth.password, auth.identity_token, auth.registry_token) if v]
    if auth.has_basic:
        values.append(basic_value(auth))
    return tuple(values)


def redact(text: str, auth: RegistryAuth | None) -> str:
    """``text`` with every secret of ``auth`` replaced by ``***``."""
    # Very short values (a test password "y") would garble ordinary words; they are not echoed
    # by registries anyway, unlike tokens and passwords of real length.
    secrets = secret_strings(auth)
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _config_host(key: str) -> str:
    """Docker's ``ConvertToHostname``: drop an ``http(s)://`` scheme and everything after ``/``."""
    stripped = key
    for scheme in ("http://", "https://"):
        if stripped.lower().startswith(scheme):
            stripped = stripped[len(scheme) :]
            break
    return stripped.partition("/")[0].lower()


def _matching_keys(auths: Mapping[str, Any], registry_host: str) -> Iterator[str]:
    target = _config_host(registry_host)
    keys = [key for key in auths if isinstance(key, str)]
    if target in DOCKER_HUB_NAMES:
        if _DOCKER_HUB_CONFIG_KEY in keys:
            yield _DOCKER_HUB_CONFIG_KEY
        yield from (
            k for k in keys if k != _DOCKER_HUB_CONFIG_KEY and _config_host(k) in DOCKER_HUB_NAMES
        )
        return
    if registry_host in keys:
        yield registry_host
    yield from (k for k in keys if k != registry_host and _config_host(k) == target)


def _entry_auth(key: str, entry: Mapping[str, Any]) -> RegistryAuth | None:
    def text(field: str) -> str | None:
        value = entry.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ConnectionsError(
                f"the docker config entry for `{key}`: `{field}` must be a string"
            )
        return value

    username, password = text("username"), text("password")
    encoded = text("auth")
    if encoded is not None:
        username, password = _decoded_auth(key, encoded)
    identity_token, registry_token = text("identitytoken"), text("registrytoken")
    if not (password is not None and username) and not identity_token and not registry_token:
        return None
    return RegistryAuth(
        username=username,
        password=password if username else None,
        identity_token=identity_token,
        registry_token=registry_token,
    )


def _decoded_auth(key: str, encoded: str) -> tuple[str, str]:
    """The user and password of an entry's ``auth`` (base64 of ``user:password``)."""
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    user, colon, secret = decoded.partition(":")
    if not colon or not user:
        # The value is never quoted: it holds the password.
        raise ConnectionsError(
            f"the docker config entry for `{key}` has an `auth` value that is not"
            " base64 of `user:password`"
        )
    return user, secret
