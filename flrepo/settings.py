"""Server settings from the environment (`FLREPO_*`, the original's names as fallbacks)."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flrepo.documents.database import Databases
from flrepo.documents.upload_shares import UploadShares
from flrepo.scanner.allowlists import Allowlists
from flrepo.scanner.budget import Budget
from flrepo.scanner.limits import BUDGET_S, BUDGET_S_PER_MIB
from flrepo.scanner.scanning import Scanning
from flrepo.scanner.verdicts import PicklePolicy
from flrepo.signing.states import SignaturePolicy

GIB = 1024**3
RESERVED_FILES = 256  # open files kept for other than client connections, at least
MIN_CONNECTIONS = 16


class Settings(BaseSettings):
    """Everything `flrepo` can be configured with; CLI flags override these."""

    model_config = SettingsConfigDict(env_prefix="FLREPO_", extra="ignore", populate_by_name=True)

    mongodb_url: str | None = Field(
        default=None, description="MongoDB URL; unset means the embedded development database"
    )
    data_dir: Path = Field(default=Path("flrepo-data"), description="embedded database's folder")
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("FLREPO_HOST", "HOST"),
        description="address to listen on",
    )
    port: int = Field(
        default=9012,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("FLREPO_PORT", "PORT"),
        description="port to listen on, 1 to 65535",
    )
    db_name: str = Field(default="repository", description="database of the metadata")
    grid_db_name: str = Field(
        default="repository_grid", description="database of the GridFS bucket `fs`"
    )
    max_upload_bytes: int = Field(
        default=8 * GIB, gt=0, description="largest file accepted, in bytes"
    )
    upload_expiry_hours: float = Field(
        default=24.0, gt=0, description="how long a resumable upload lives after its last bytes"
    )
    seed_archive: Path | None = Field(
        default=None, description="archive to restore at startup if the repository is empty"
    )
    write_concern: Literal["journaled", "acknowledged"] = Field(
        default="journaled",
        description="journaled: on disk (and on a majority) before a write is answered",
    )
    max_concurrent_uploads: int = Field(
        default=16, gt=0, description="uploads received at once; further ones wait"
    )
    uploads_per_caller: int | None = Field(
        default=None,
        gt=0,
        description="uploads one caller (token, else client address) may send at once; more "
        "are refused (429); unset: a quarter of max_concurrent_uploads",
    )
    upload_idle_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="seconds an upload may send no bytes; then it is dropped (408)",
    )
    tus_uploads_per_caller: int = Field(
        default=100, gt=0, description="unfinished resumable uploads one caller may have"
    )
    tus_bytes_per_caller: int = Field(
        default=64 * GIB,
        gt=0,
        description="sum of the Upload-Length of one caller's unfinished resumable uploads",
    )
    kept_scans: int = Field(
        default=64,
        ge=0,
        description="unfinished resumable uploads whose hash and scan a server keeps in "
        "memory (a quarter of them one caller's); others are recomputed from the database",
    )
    scan_threads: int | None = Field(
        default=None, gt=0, description="threads hashing and scanning uploads; unset: the cores"
    )
    scan_threads_per_caller: int = Field(
        default=1, gt=0, description="of those threads, how many one caller may use at once"
    )
    sweep_interval_s: float = Field(
        default=3600.0, ge=0, description="seconds between orphan sweeps; 0 turns them off"
    )
    orphan_grace_s: float = Field(
        default=3600.0, ge=0, description="age before an unreferenced file counts as an orphan"
    )
    oplog_retention_s: float = Field(
        default=600.0, gt=0, description="embedded database: seconds its oplog keeps a write"
    )
    oplog_max_entries: int = Field(
        default=2_000, gt=0, description="embedded database: writes its oplog keeps at most"
    )
    revision_retention_days: float = Field(
        default=7.0,
        ge=0,
        description="days a replaced file is kept as a revision; then the sweep removes it",
    )
    max_websockets: int = Field(default=1000, gt=0, description="WebSocket connections at once")
    max_subscriptions: int = Field(
        default=20, gt=0, description="subscriptions (operations) per WebSocket at once"
    )
    ws_allowed_origins: str = Field(
        default="", description="comma-separated origins whose pages may open WebSockets"
    )
    websockets_per_caller: int | None = Field(
        default=None,
        gt=0,
        description="WebSockets one caller (token, else client address) may hold at once; "
        "unset: a tenth of max_websockets",
    )
    ws_max_lifetime_s: float = Field(
        default=3600.0, gt=0, description="seconds a WebSocket stays open; then it is closed"
    )
    trusted_proxies: str = Field(
        default="",
        description="comma list of proxy addresses (or networks) whose X-Forwarded-For names "
        "the client; unset: none, the connection's address is the client",
    )
    max_connections: int | None = Field(
        default=None,
        gt=0,
        description="connections at once; past it an idle one is closed, else 503; "
        "unset: the open-file limit less a reserve",
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, description="seconds an idle kept-alive connection stays open"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="seconds a client has to send a request's headers"
    )
    pickle_policy: PicklePolicy = Field(
        default="report",
        description="`report` stores and labels every upload; `refuse` refuses DANGEROUS "
        "pickles; `refuse-suspicious` refuses SUSPICIOUS and DANGEROUS ones",
    )
    pickle_allow: str = Field(
        default="",
        description="comma list of modules (or module prefixes) whose pickled globals count "
        "as safe, each alone or after a kind: `flwr.server.strategy,strategy:mylib.agg`; "
        "kinds: model, weights, strategy, transformation",
    )
    scan_budget_s: float = Field(
        default=BUDGET_S, gt=0, description="CPU seconds each pickle scan may take at least"
    )
    scan_budget_s_per_mib: float = Field(
        default=BUDGET_S_PER_MIB, ge=0, description="CPU seconds a scan may add per MiB of file"
    )
    signature_policy: SignaturePolicy = Field(
        default="report",
        description="an upload's model-signing bundle: `report` records its state, `require` "
        "refuses unsigned, invalid and untrusted uploads",
    )

    # Training runs and model aliases (README: Training runs).
    protected_aliases: str = Field(
        default="production",
        description="comma list of model aliases that only the promote scope may move",
    )
    round_retention: str = Field(
        default="all",
        pattern=r"^(all|last:[1-9][0-9]{0,8})$",
        description="round weights kept: `all`, or `last:N` (the last N rounds and the best)",
    )
    round_retention_best: str | None = Field(
        default=None,
        pattern=r"^.+:(max|min)$",
        description="with last:N, the best round by `metric:max` or `metric:min`; "
        "unset: by the run's declared objective",
    )

    # Access control (README: Security).
    anonymous_scopes: str | None = Field(
        default=None,
        description="What callers without a token may do: a comma list of read, write, delete, "
        "admin, promote, or `none`; unset: read,write,delete on loopback, read elsewhere",
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
    db_address: str | None = Field(
        default=None,
        validation_alias="DB_ADDRESS",
        description="MongoDB host, the original service's setting (with DB_PORT)",
    )
    db_port: int = Field(
        default=27017, validation_alias="DB_PORT", description="MongoDB port for DB_ADDRESS"
    )

    @field_validator("pickle_allow")
    @classmethod
    def _allowlist_entries(cls, value: str) -> str:
        Allowlists.parse(value)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _original_db_address(self) -> "Settings":
        if self.mongodb_url is None and self.db_address:
            self.mongodb_url = f"mongodb://{self.db_address}:{self.db_port}"
        return self

    @property
    def upload_expiry(self) -> timedelta:
        return timedelta(hours=self.upload_expiry_hours)

    @property
    def revision_retention(self) -> timedelta:
        return timedelta(days=self.revision_retention_days)

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
    def websocket_share(self) -> int:
        """FLREPO_WEBSOCKETS_PER_CALLER, else a tenth of FLREPO_MAX_WEBSOCKETS (at least 1)."""
        return self.websockets_per_caller or max(1, self.max_websockets // 10)

    @property
    def upload_shares(self) -> UploadShares:
        """Each caller's share of the uploads and scan threads, the idle timeout, the scans
        kept."""
        return UploadShares(
            uploads_per_caller=self.uploads_per_caller,
            idle_timeout_s=self.upload_idle_timeout_s,
            unfinished_per_caller=self.tus_uploads_per_caller,
            unfinished_bytes_per_caller=self.tus_bytes_per_caller,
            kept_scans=self.kept_scans,
            scan_threads=self.scan_threads,
            scan_threads_per_caller=self.scan_threads_per_caller,
        )

    @property
    def connection_cap(self) -> int:
        """FLREPO_MAX_CONNECTIONS, else the open-file limit less a reserve for the database
        pool, files and logs: a quarter of it, at least RESERVED_FILES."""
        if self.max_connections is not None:
            return self.max_connections
        files = open_file_limit()
        return max(MIN_CONNECTIONS, files - max(RESERVED_FILES, files // 4))

    @property
    def proxies(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def scanning(self) -> Scanning:
        """How uploads and `flrepo scan` scan files: allowlists and CPU budget."""
        return Scanning(
            Allowlists.parse(self.pickle_allow),
            Budget(self.scan_budget_s, self.scan_budget_s_per_mib),
        )

    @property
    def protected(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.protected_aliases.split(",") if a.strip())

    @property
    def databases(self) -> Databases:
        return Databases(self.db_name, self.grid_db_name)


def open_file_limit() -> int:
    """The process's soft RLIMIT_NOFILE (bounded, for "unlimited"); 1024 where unknown."""
    try:
        import resource  # not on Windows
    except ImportError:
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1024 if soft == resource.RLIM_INFINITY else min(soft, 1 << 20)


def env_names(field: str) -> list[str]:
    """The environment variables a setting is read from, in the order they are tried."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{Settings.model_config.get('env_prefix', '')}{field}".upper()]
