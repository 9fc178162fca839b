"""Server settings from the environment (`FLREPO_*`, the original's names as fallbacks)."""

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flrepo.documents.database import Databases
from flrepo.documents.pickle_scan import PicklePolicy

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
    pickle_policy: PicklePolicy = Field(
        default="report",
        description="A DANGEROUS pickle upload: `report` stores and labels it, `refuse` refuses it",
    )

    # The original deployment files configure MongoDB with these two.
    db_address: str | None = Field(default=None, validation_alias="DB_ADDRESS")
    db_port: int = Field(default=27017, validation_alias="DB_PORT")

    @model_validator(mode="after")
    def _original_db_address(self) -> "Settings":
        if self.mongodb_url is None and self.db_address:
            self.mongodb_url = f"mongodb://{self.db_address}:{self.db_port}"
        return self

    @property
    def databases(self) -> Databases:
        return Databases(self.db_name, self.grid_db_name)
