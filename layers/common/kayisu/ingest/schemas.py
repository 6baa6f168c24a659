"""Request and response shapes of batches (CONTRACT §4 batches, §5)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kayisu.catalog.schemas import Sku
from kayisu.clock import Timestamp
from kayisu.ingest.parsing import FileRejected, kind_of

BatchStatus = Literal["pending", "processing", "completed", "failed"]


class BatchGenerate(BaseModel):
    """Codes made here (专属核销码) rather than uploaded: see kayisu.partners.codes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: Sku
    count: Annotated[int, Field(ge=1, le=100_000)]
    length: Annotated[int, Field(ge=17, le=60, description="random characters (17 = 84 bits)")] = 20
    prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,8}$", description="1-8 capitals or digits")] = "KY"


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
