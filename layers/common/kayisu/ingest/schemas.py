"""Request and response shapes of batches (CONTRACT §4 batches, §5)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kayisu.catalog.schemas import Sku
from kayisu.clock import Timestamp
from kayisu.ingest.parsing import FileRejected, kind_of

BatchStatus = Literal["pending", "processing", "completed", "failed"]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    filename: Annotated[str, Field(min_length=5, max_length=200)]

    @field_validator("filename")
    @classmethod
    def _plain_name_of_a_known_type(cls, value: str) -> str:
        if "/" in value or "\\" in value or not value.isprintable():
            raise ValueError("a file name, without folders")
        try:
            kind_of(value)
        except FileRejected as exc:
            raise ValueError(str(exc)) from None
        return value


class BatchUpload(BaseModel):
    batch_id: str
    upload_url: str
    s3_key: str
    expires_at: Timestamp


class Batch(BaseModel):
    batch_id: str
    sku: str
    filename: str
    status: BatchStatus
    rows: int
    imported: int
    duplicates: int
    rejected: int
    voided: int
    rejects_url: str | None = None
    error: str | None = None
    created_at: Timestamp
    completed_at: Timestamp | None = None


class BatchVoided(BaseModel):
    batch_id: str
    voided: int = Field(description="cards voided now")
    held: int = Field(description="unsold cards left because unpaid orders reserved them")
