"""Server settings from the environment (`FLREPO_*`, the original's names as fallbacks)."""

import ipaddress
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flrepo.documents.database import Databases

GIB = 1024**3


class Settings(BaseSettings):
    """Everything `flrepo` can be configured with; CLI flags override these."""

    model_config = SettingsConfigDict(env_prefix="FLREPO_", extra="ignore", populate_by_name=True)

    mongodb_url: str | None = Field(
        default=None, description="MongoDB URL; unset means the embedded development database"
    )
    data_dir: Path = Field(default=Path("flrepo-data"), description="Embedded database's folder")
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("FLREPO_HOST", "HOST"))
    port: int = Field(default=9012, validation_alias=AliasChoices("FLREPO_PORT", "PORT"))
    db_name: str = "repository"
    grid_db_name: str = "repository_grid"
    max_upload_bytes: int = Field(default=8 * GIB, gt=0)
    seed_archive: Path | None = None

    # Access control (README: Security).
    anonymous_scopes: str | None = Field(
        default=None,
        description="What callers without a token may do: a comma list of read, write, delete, "
        "admin, or `none`; unset: read,write,delete on loopback, read elsewhere",
    )
    admin_token: SecretStr | None = Field(default=None, description="A secret with every scope")
    cors_origins: str = Field(default="", description="Comma list of origins that may write")

    # GraphQL cost limits, checked before a query runs.
    graphql_max_bytes: int = Field(default=100_000, gt=0)
    graphql_max_tokens: int = Field(default=2_000, gt=0)
    graphql_max_aliases: int = Field(default=30, ge=0)
    graphql_max_depth: int = Field(default=10, gt=0)
    graphql_max_objects: int = Field(default=5_000, gt=0)

    # The original deployment files configure MongoDB with these two.
    db_address: str | None = Field(default=None, validation_alias="DB_ADDRESS")
    db_port: int = Field(default=27017, validation_alias="DB_PORT")

    @model_validator(mode="after")
    def _original_db_address(self) -> "Settings":
        if self.mongodb_url is None and self.db_address:
            self.mongodb_url = f"mongodb://{self.db_address}:{self.db_port}"
        return self

    @property
    def on_loopback(self) -> bool:
        """The server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    @property
    def databases(self) -> Databases:
        return Databases(self.db_name, self.grid_db_name)
