"""Pydantic models of the connections catalog: a connection (its kind, schema, secret or
config map) and the catalog that lists them, as Polyaxon's agent config holds them.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from polymagic.spec.models import (
    PolyModel,
    check_git_url,
    check_name,
    check_registry_url,
)

__all__ = ["Connection", "ConnectionCatalog", "ResourceRef"]


# -- connections ----------------------------------------------------------------------------


class ResourceRef(PolyModel):
    """A secret or config map a connection refers to (optionally mounted)."""

    name: StrictStr
    mount_path: StrictStr | None = Field(default=None, alias="mountPath")
    items: list[StrictStr] | None = None
    default_mode: int | None = Field(default=None, alias="defaultMode")


ConnectionKind = Literal[
    "registry",
    "git",
    "s3",
    "gcs",
    "wasb",
    "volume_claim",
    "host_path",
    "bucket",
    "mlflow",
    "wandb",
    "slack",
    "discord",
    "mattermost",
    "pagerduty",
    "webhook",
    "custom",
]


class Connection(PolyModel):
    """One connection of the catalog, in Polyaxon's agent form."""

    name: Annotated[StrictStr, AfterValidator(lambda v: check_name(v))]
    kind: ConnectionKind
    description: StrictStr | None = None
    tags: list[StrictStr] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    secret: ResourceRef | None = None
    config_map: ResourceRef | None = Field(default=None, alias="configMap")
    env: list[dict[str, Any]] | None = None
    annotations: dict[str, StrictStr] | None = None

    @field_validator("schema_")
    @classmethod
    def _url(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        url = value.get("url") if value else None
        if isinstance(url, str) and info.data.get("kind") == "git":
            check_git_url(url, "`url` ")
        elif isinstance(url, str) and info.data.get("kind") == "registry":
            check_registry_url(url)
        return value


class ConnectionCatalog(PolyModel):
    """The list of connections known to a build, looked up by name."""

    connections: list[Connection] = []  # noqa: RUF012  (a pydantic field: copied per model)

    @field_validator("connections")
    @classmethod
    def _unique(cls, value: list[Connection]) -> list[Connection]:
        seen: set[str] = set()
        for connection in value:
            if connection.name in seen:
                raise ValueError(f"connection `{connection.name}` is defined twice")
            seen.add(connection.name)
        return value

    def get(self, name: str) -> Connection | None:
        """The connection called ``name``, or None."""
        return next((c for c in self.connections if c.name == name), None)

    def names(self) -> list[str]:
        """Every connection name, in catalog order."""
        return [c.name for c in self.connections]
