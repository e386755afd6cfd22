"""The polymagic exception hierarchy: every error a user can meet.

    PolymagicError                 any polymagic failure; one clear message
     ├── SpecError                 the operation, component or params are wrong
     │    ├── YamlSyntaxError      the text is not valid YAML
     │    │    └── DuplicateKeyError   a mapping repeats a key
     │    ├── LimitError           the input or a template goes past one of polymagic's bounds
     │    ├── UnsupportedError     valid for Polyaxon, but not something polymagic can run
     │    ├── ParamError           a param is unknown, missing or has a bad value
     │    └── ConnectionsError     the connections catalog is wrong, or lacks a connection
     ├── UsageError                a command or magic was called the wrong way
     ├── NotFoundError             the build asked for by name is not there
     ├── ClusterError              talking to Kubernetes failed
     │    ├── ClusterConfigError   no kubeconfig / in-cluster config could be loaded
     │    ├── ApiError             the API server refused or failed a request (status, reason)
     │    └── PreflightError       a check before submitting found a problem (reason, fix)
     └── BuildError                the build ran but did not produce an image (name, reason,
          │                        detail, exit_code, failed_step, events, log_tail, fix)
          ├── BuildFailed          the executor failed, or the pod could not start
          ├── BuildTimeout         a deadline was hit (deadline, limit)
          └── BuildCancelled       the user stopped it

Errors render as one message in IPython (``_render_traceback_``) and on the command line.
Failures of a build carry what is known about them as fields; ``str()`` is their message (the
summary sentence, then ``fix: ...`` on a line of its own), and
``polymagic.outcome.text`` lays the fields out for the terminal and the widget (events,
log tail), so nothing reads a message back. This module owns the wording of the messages and
the sentences of the named constructors (``PreflightError.secret_missing``, ...); the fixes a
failed build suggests are ``polymagic.outcome.fixes``'. It imports nothing from the rest of polymagic but the sanitiser (``printable``),
since a message may quote what a build printed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from polymagic.printable import printable

__all__ = [
    "ApiError",
    "BuildCancelled",
    "BuildError",
    "BuildFailed",
    "BuildTimeout",
    "ClusterConfigError",
    "ClusterError",
    "ConnectionsError",
    "DuplicateKeyError",
    "FailedStep",
    "LimitError",
    "NotFoundError",
    "ParamError",
    "PodEvent",
    "PolymagicError",
    "PreflightError",
    "SpecError",
    "UnsupportedError",
    "UsageError",
    "YamlSyntaxError",
    "one_line",
]


_LINE_BREAKS = {"\x85", "\u2028", "\u2029"}


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped, so a message that quotes user
    input stays on one line."""
    out = []
    for char in text:
        if char in _LINE_BREAKS or unicodedata.category(char) == "Cc":
            out.append(repr(char)[1:-1])
        else:
            out.append(char)
    return "".join(out)


def _with_fix(summary: str, fix: str) -> str:
    return f"{summary}\nfix: {fix}" if fix else summary


class PolymagicError(Exception):
    """Raised for any failure polymagic reports to a user; ``str()`` is the whole message."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: users see the message only, with
        # whatever it quotes from a build (events, log lines) unable to drive the display.
        return [f"{type(self).__name__}: {printable(str(self), keep_newlines=True)}"]


class SpecError(PolymagicError):
    """Raised when an operation, component or init entry does not validate.

    ``path`` is the dotted field path (``runPatch.init[0].dockerfile.image``) and ``line`` the
    1-based line in the YAML source when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.source = source
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = f"{', '.join(where)}: " if where else ""
        field = f"{self.path}: " if self.path else ""
        return one_line(f"{prefix}{field}{self.message}")


class YamlSyntaxError(SpecError):
    """Raised when the document is not parseable YAML."""


class DuplicateKeyError(YamlSyntaxError):
    """Raised when a YAML mapping repeats a key (PyYAML would silently keep the last one)."""


class LimitError(SpecError):
    """Raised when an input or a template goes past one of the bounds in ``polymagic.limits``;
    the message names the bound and its value."""


class UnsupportedError(SpecError):
    """Raised for valid Polyaxon input polymagic cannot run (``urlRef``, ``dagRef``, other run kinds)."""


class ParamError(SpecError):
    """Raised when a param is unknown, required but missing, or has a value of the wrong type."""


class ConnectionsError(SpecError):
    """Raised when the connections catalog cannot be read or a connection is not in it."""


class UsageError(PolymagicError):
    """Raised when a command or a magic is called the wrong way (an unknown subcommand, a
    missing argument, options that do not go together); the command line exits 2."""


class NotFoundError(PolymagicError):
    """Raised when the build a command names (``status``, ``cancel``, ``logs``) is not in the
    namespace; the command line exits 1."""

    def __init__(self, name: str, namespace: str, *, what: str = "build") -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"no {what} named `{name}` in namespace `{namespace}`")


class ClusterError(PolymagicError):
    """Raised when polymagic cannot talk to Kubernetes as needed."""


class ClusterConfigError(ClusterError):
    """Raised when neither a kubeconfig nor in-cluster configuration is available."""


class ApiError(ClusterError):
    """Raised when the API server answers with an error; keeps its HTTP status and reason."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class PreflightError(ClusterError):
    """Raised when a check before submission fails (namespace, secret, permissions, the
    registry's answer to the credentials); nothing was created.

    ``reason`` names the check (``NamespaceNotFound``, ``SecretNotFound``, ``Forbidden``,
    ``CredentialsRefused``, ``PodSecurity``, ``NameTaken``, ``NotABuild``); ``fix`` says what
    to do.
    """

    def __init__(self, summary: str, *, reason: str = "", fix: str = "") -> None:
        self.summary = summary
        self.reason = reason
        self.fix = fix
        super().__init__(_with_fix(summary, fix))

    @classmethod
    def namespace_missing(cls, namespace: str) -> PreflightError:
        return cls(
            f"namespace `{namespace}` does not exist",
            reason="NamespaceNotFound",
            fix=f"create it (`kubectl create namespace {namespace}`) or choose another with"
            " --namespace",
        )

    @classmethod
    def secret_missing(cls, namespace: str, secret: str) -> PreflightError:
        return cls(
            f"secret `{secret}` not found in namespace `{namespace}`",
            reason="SecretNotFound",
            fix=f"create it with `kubectl -n {namespace} create secret docker-registry {secret}"
            " --docker-server=... --docker-username=... --docker-password=...` (or a generic"
            " secret with a config.json key), or fix the connection's secret name",
        )

    @classmethod
    def forbidden(cls, namespace: str, missing: Sequence[str]) -> PreflightError:
        return cls(
            f"you may not run builds in namespace `{namespace}`: missing permission to "
            + ", ".join(missing),
            reason="Forbidden",
            fix="ask a cluster admin for a Role with these rules bound to your user or service"
            " account (`polymagic rbac` prints one)",
        )

    @classmethod
    def credentials_refused(
        cls, namespace: str, host: str, secret: str, registry_said: str
    ) -> PreflightError:
        return cls(
            f"the registry `{host}` refused the credentials in secret `{secret}` (HTTP 401):"
            f" nothing was submitted. {registry_said}",
            reason="CredentialsRefused",
            fix=f"check the username and password for `{host}` in it, e.g. recreate it with"
            f" `kubectl -n {namespace} delete secret {secret}` and `kubectl -n {namespace}"
            f" create secret docker-registry {secret} --docker-server={host}"
            " --docker-username=... --docker-password=...`",
        )

    @classmethod
    def pod_security(cls, namespace: str, level: str, violations: str) -> PreflightError:
        shown = violations if len(violations) <= 400 else f"{violations[:400]}…"
        why = (
            "Kaniko's executor runs as root, which `restricted` refuses"
            if level == "restricted"
            else "the executor needs what Pod Security's `baseline` level allows"
        )
        return cls(
            f"namespace `{namespace}` refused the executor pod under Pod Security admission"
            f" (level `{level}`): {shown or 'no detail given'}; nothing was left behind. {why}",
            reason="PodSecurity",
            fix="build in a dedicated namespace holding only the registry Secret, labelled"
            f" `pod-security.kubernetes.io/enforce=baseline` (`kubectl label namespace"
            f" {namespace} pod-security.kubernetes.io/enforce=baseline --overwrite`, if this"
            " namespace is that one)",
        )

    @classmethod
    def name_taken(cls, namespace: str, name: str) -> PreflightError:
        return cls(
            f"a build named `{name}` already exists in `{namespace}` and is ending",
            reason="NameTaken",
            fix=f"wait for it, or remove it with `polymagic cancel {name}`",
        )

    @classmethod
    def not_a_build(cls, namespace: str, name: str) -> PreflightError:
        return cls(f"pod `{name}` in `{namespace}` is not a polymagic build", reason="NotABuild")


@dataclass(frozen=True)
class PodEvent:
    """One Kubernetes event about the build pod, as a failure quotes it."""

    type: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.type} {self.reason}: {self.message}"


@dataclass(frozen=True)
class FailedStep:
    """The Dockerfile step the executor was running when it failed."""

    number: int
    total: int
    instruction: str

    def __str__(self) -> str:
        return f"step {self.number}/{self.total} ({self.instruction})"


class BuildError(PolymagicError):
    """Raised when a submitted build ends without a pushed image.

    Fields (keyword arguments): ``name`` of the build; ``reason``, a Kubernetes or executor
    reason (``ImagePullBackOff``, ``FailedMount``, ``Unschedulable``, ``OOMKilled``,
    ``Evicted``, ``Error``, ...) or one of polymagic's (``PodDeleted``, ``PodNotFound``,
    ``NoDigest``, ``NoResult``, ``DeadlineExceeded``, ``Cancelled``); ``detail``, what the
    cluster or the executor said (a waiting or eviction message, Kaniko's error line);
    ``exit_code`` of the executor (None: it never ended); ``failed_step``; ``events``, the
    pod's last events; ``log_tail``, the last log lines; ``fix``, what to do.
    """

    def __init__(
        self,
        *,
        name: str,
        reason: str,
        detail: str = "",
        exit_code: int | None = None,
        failed_step: FailedStep | None = None,
        events: Sequence[PodEvent] = (),
        log_tail: Sequence[str] = (),
        fix: str = "",
    ) -> None:
        self.name = name
        self.reason = reason
        self.detail = detail
        self.exit_code = exit_code
        self.failed_step = failed_step
        self.events = tuple(events)
        self.log_tail = tuple(log_tail)
        self.fix = fix
        super().__init__(_with_fix(self.summary, fix))

    @property
    def summary(self) -> str:
        """The message's first sentence (without the fix)."""
        detail = f": {self.detail}" if self.detail else ""
        return f"build `{self.name}` ended without an image ({self.reason}){detail}"


class BuildFailed(BuildError):
    """Raised when the executor exits non-zero (or 0 without a digest), or the pod cannot
    start (``started`` False: stuck, with its ``events``), or it vanishes."""

    POD_DELETED = "PodDeleted"
    POD_NOT_FOUND = "PodNotFound"
    NO_DIGEST = "NoDigest"
    NO_RESULT = "NoResult"
    OUT_OF_MEMORY = "OOMKilled"
    """The kubelet's reason: the kernel killed a process of the executor's container (Kaniko
    itself, or a RUN step's command) at the container's memory limit, or its node ran out."""
    EVICTED = "Evicted"
    """The kubelet's reason: the node, short of a resource, stopped the pod (``detail`` is the
    node's message, naming the resource)."""

    def __init__(
        self,
        *,
        name: str,
        reason: str,
        detail: str = "",
        started: bool = True,
        exit_code: int | None = None,
        failed_step: FailedStep | None = None,
        events: Sequence[PodEvent] = (),
        log_tail: Sequence[str] = (),
        fix: str = "",
    ) -> None:
        self.started = started
        """False when the executor never ran (the pod was stuck before it started)."""
        super().__init__(
            name=name,
            reason=reason,
            detail=detail,
            exit_code=exit_code,
            failed_step=failed_step,
            events=events,
            log_tail=log_tail,
            fix=fix,
        )

    @property
    def summary(self) -> str:
        name = self.name
        if self.reason == self.POD_DELETED:
            return f"the build pod `{name}` was deleted by someone else before it finished"
        if self.reason == self.POD_NOT_FOUND:
            return f"the build pod `{name}` disappeared"
        if self.reason == self.NO_RESULT:
            return f"build `{name}` ended without a result"
        if self.reason == self.NO_DIGEST:
            return (
                f"build `{name}`: the executor exited 0 but reported no image digest (its"
                " termination message is empty), so the push cannot be confirmed"
            )
        if not self.started:
            said = self.detail.strip() or "no message"
            return f"build `{name}` could not start: the pod is stuck in {self.reason} ({said})"
        step = f" at {self.failed_step}" if self.failed_step else ""
        if self.reason == self.EVICTED:
            said = self.detail.strip() or "no message"
            return f"build `{name}` was evicted from its node{step}: {said}"
        if self.reason == self.OUT_OF_MEMORY:
            code = (
                ""
                if self.exit_code is None
                else f", the executor exited with code {self.exit_code}"
            )
            said = f": {self.detail}" if self.detail else ""
            return (
                f"build `{name}` ran out of memory{step}: the kernel's out-of-memory killer"
                f" stopped it (OOMKilled{code}){said}"
            )
        if self.exit_code is None:
            return f"build `{name}` failed: the pod ended ({self.reason}) before the executor did"
        error_line = self.detail or "no error line in the log"
        return (
            f"build `{name}` failed{step}: the executor exited with code {self.exit_code}"
            f" ({self.reason}): {error_line}"
        )


class BuildTimeout(BuildError):
    """Raised when one of the build's deadlines is hit; ``deadline`` names which (``overall``,
    ``pod start``, ``log idle``) and ``limit`` is its length in seconds."""

    def __init__(
        self, *, name: str, deadline: str, limit: float, log_tail: Sequence[str] = ()
    ) -> None:
        self.deadline = deadline
        self.limit = limit
        super().__init__(name=name, reason="DeadlineExceeded", log_tail=log_tail)

    @property
    def summary(self) -> str:
        return f"build `{self.name}` hit the {self.deadline} deadline ({self.limit:.0f}s)"


class BuildCancelled(BuildError):
    """Raised when the user interrupts or cancels a build; what it created is deleted."""

    def __init__(self, *, name: str, log_tail: Sequence[str] = ()) -> None:
        super().__init__(name=name, reason="Cancelled", log_tail=log_tail)

    @property
    def summary(self) -> str:
        return f"build `{self.name}` cancelled; its pod and ConfigMap were deleted"
