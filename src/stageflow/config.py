"""Settings, from ``STAGEFLOW_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has a sane default: no configuration runs an embedded SQLite instance."""

    model_config = SettingsConfigDict(env_prefix="STAGEFLOW_", extra="ignore")

    data_dir: Path = Path(".stageflow")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    virtual_clock: bool = False
    # The key workspace secrets are sealed with (any string). Unset: a key file in data_dir,
    # made on first use. Processes sharing a PostgreSQL database must share the key.
    secret_key: str | None = None
    # Where providers reach this server (e-signature callbacks); default http://host:port.
    public_url: str | None = None
    # The largest request body taken (bytes): JSON and forms, and multipart uploads (CSV).
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stageflow.db').as_posix()}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def embedded(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")
