"""Authenticating to a registry: reading its ``WWW-Authenticate`` challenges, answering them
with HTTP Basic or a Bearer token from its token server, and explaining a refusal.

Anonymous first; on 401 with a ``Basic`` challenge the user and password are sent; with a
``Bearer`` challenge a token is fetched from the realm (with the credentials, if any: a
user and password as Basic, an identity token as Docker's OAuth2 refresh-token form) and the
request retried. Credentials go over plain HTTP only to a registry marked insecure. I/O only
through the :class:`~polymagic.registry.transport.Transport` given.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from polymagic.registry.answer import Outcome, Presence
from polymagic.registry.credentials import RegistryAuth, basic_value
from polymagic.registry.reference import ImageReference
from polymagic.registry.transport import (
    USER_AGENT,
    Request,
    Response,
    Transport,
    Url,
    encode_query,
    parse_url,
    shown,
)

__all__ = ["AuthSession", "parse_challenges"]

_MAX_TOKEN_RESPONSE = 1024 * 1024
_PARAM = re.compile(r'([A-Za-z0-9_.-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^,\s"]*)')
_SCHEME = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)")

Challenges = dict[str, dict[str, str]]


class AuthSession:
    """Requests to the registry of ``ref``, authenticated as its challenges ask, keeping the
    authorization the first challenge gave (a new challenge, e.g. for ``push``, gets a new one)."""

    def __init__(
        self,
        ref: ImageReference,
        auth: RegistryAuth | None,
        *,
        insecure: bool,
        transport: Transport,
    ) -> None:
        self.ref = ref
        self.auth = auth
        self.insecure = insecure
        self.transport = transport
        self.authorization: str | None = None

    def send(self, request: Request) -> Response:
        """``request`` with the authorization gained so far, and no retry."""
        if self.authorization:
            request = _authorized(request, self.authorization)
        return self.transport.send(request)

    def call(self, request: Request) -> Response | Outcome:
        """``request``, authenticated (once per challenge) when the registry answers 401; the
        final answer instead when it cannot be, or when a retry other than a PUT is refused."""
        response = self.send(request)
        if response.status != 401:
            return response
        challenges = parse_challenges(response.header_values("WWW-Authenticate"))
        authorized = self._authorize(challenges)
        if isinstance(authorized, Outcome):
            return authorized
        self.authorization = authorized
        response = self.transport.send(_authorized(request, authorized))
        if response.status == 401 and request.method != "PUT":
            return self._refused(response, challenges)
        return response

    def _authorize(self, challenges: Challenges) -> str | Outcome:
        """The Authorization header to retry with, or the final answer when there is none."""
        auth = self.auth
        if "bearer" in challenges:
            if auth is not None and auth.registry_token:
                return f"Bearer {auth.registry_token}"
            return self._fetch_token(challenges["bearer"])
        if "basic" in challenges:
            if auth is None or not auth.has_basic:
                return Outcome(
                    Presence.UNKNOWN,
                    f"{self.ref.host} requires a user and password (HTTP Basic) and none were"
                    f" given{self._no_credentials_hint()}",
                    status=401,
                )
            return f"Basic {basic_value(auth)}"
        schemes = ", ".join(sorted(challenges)) or "none"
        return Outcome(
            Presence.UNKNOWN,
            f"{self.ref.host} answered 401 with an authentication scheme polymagic does not"
            f" support ({schemes})",
            status=401,
        )

    def _fetch_token(self, challenge: dict[str, str]) -> str | Outcome:
        realm = challenge.get("realm", "")
        url = parse_url(realm)
        if url is None or url.scheme not in ("http", "https"):
            return Outcome(
                Presence.UNKNOWN,
                f"{self.ref.host} named an unusable token realm `{shown(realm)}`",
                status=401,
            )
        auth = self.auth
        sends_secret = auth is not None and (auth.has_basic or bool(auth.identity_token))
        if sends_secret and url.scheme == "http" and not self.insecure:
            return Outcome(
                Presence.UNKNOWN,
                f"the token realm `{shown(realm)}` of {self.ref.host} is plain HTTP: credentials"
                " are only sent over HTTP to a registry marked insecure",
                status=401,
            )
        response = self.transport.send(self._token_request(challenge, realm, url))
        return self._token_from(response, url.netloc, sends_secret)

    def _token_request(self, challenge: dict[str, str], realm: str, url: Url) -> Request:
        """The token server request: Docker's OAuth2 form for an identity token, else a GET
        (with the user and password as Basic, when there are some)."""
        own_scope = f"repository:{self.ref.repository}:pull"
        scopes = [own_scope]
        if challenge.get("scope") and challenge["scope"] != own_scope:
            scopes.append(challenge["scope"])
        service = challenge.get("service")
        service_pair = [("service", service)] if service else []
        headers = {"Accept": "application/json"}
        auth = self.auth
        if auth is not None and auth.identity_token:
            # Docker's OAuth2 flow: the identity token is a refresh token, POSTed as a form.
            form = [("grant_type", "refresh_token"), ("refresh_token", auth.identity_token)]
            form += [("client_id", USER_AGENT), ("scope", " ".join(scopes)), *service_pair]
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = encode_query(form).encode()
            return Request("POST", realm, headers, _MAX_TOKEN_RESPONSE, data)
        query = encode_query(service_pair + [("scope", scope) for scope in scopes])
        if auth is not None and auth.has_basic:
            headers["Authorization"] = f"Basic {basic_value(auth)}"
        target = f"{realm}{'&' if url.query else '?'}{query}"
        return Request("GET", target, headers, _MAX_TOKEN_RESPONSE)

    def _token_from(self, response: Response, token_host: str, sends_secret: bool) -> str | Outcome:
        """The Bearer authorization in the token server's answer, or why there is none."""
        server = f"the token server {token_host} of {self.ref.host}"
        if response.status in (401, 403):
            if sends_secret:
                why = "rejected the credentials from the docker config"
            else:
                why = "refused an anonymous token"
            return Outcome(
                Presence.UNKNOWN,
                f"{server} {why} (HTTP {response.status})",
                status=response.status,
                credentials_rejected=sends_secret and response.status == 401,
            )
        if response.status != 200:
            return Outcome(
                Presence.UNKNOWN,
                f"{server} answered HTTP {response.status}",
                status=response.status,
            )
        try:
            payload = json.loads(response.body)
        except ValueError:
            payload = None
        token = None
        if isinstance(payload, dict):
            token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            return Outcome(
                Presence.UNKNOWN, f"{server} answered without a token", status=response.status
            )
        return f"Bearer {token}"

    def _refused(self, response: Response, challenges: Challenges) -> Outcome:
        """The answer when the authenticated retry is refused too."""
        auth = self.auth
        has_credentials = auth is not None and (
            auth.has_basic or bool(auth.identity_token) or bool(auth.registry_token)
        )
        rejected = has_credentials and "basic" in challenges and "bearer" not in challenges
        if rejected:
            why = "rejected the credentials from the docker config"
        elif has_credentials:
            why = (
                f"did not let these credentials read `{self.ref.repository}` (or it does not exist)"
            )
        else:
            why = (
                f"needs credentials to read `{self.ref.repository}` (or it does not exist)"
                " and none were given"
            )
        hint = "" if has_credentials else self._no_credentials_hint()
        return Outcome(
            Presence.UNKNOWN,
            f"{self.ref.host} {why} (HTTP 401){hint}",
            status=response.status,
            credentials_rejected=rejected,
        )

    def _no_credentials_hint(self) -> str:
        if self.auth is not None:
            return ""
        return f": add credentials for `{self.ref.host}` to the docker config's `auths`"


def _authorized(request: Request, authorization: str) -> Request:
    return replace(request, headers={**request.headers, "Authorization": authorization})


def parse_challenges(values: list[str]) -> Challenges:
    """``WWW-Authenticate`` values as {scheme (lowercase): {param: value}}; the first of a scheme wins."""
    challenges: Challenges = {}
    for value in values:
        current: dict[str, str] | None = None
        position = 0
        while position < len(value):
            if value[position] in " \t,":
                position += 1
                continue
            param = _PARAM.match(value, position)
            if param is not None and current is not None:
                raw = param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                current.setdefault(param.group(1).lower(), raw)
                position = param.end()
                continue
            scheme = _SCHEME.match(value, position)
            if scheme is None:
                break
            current = {}
            challenges.setdefault(scheme.group(1).lower(), current)
            position = scheme.end()
    return challenges
