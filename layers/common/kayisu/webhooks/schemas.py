"""What operators send and get for outgoing webhooks (CONTRACT §13)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kayisu.clock import Timestamp


class EventType(StrEnum):
    ORDER_PAID = "order.paid"
    ORDER_DELIVERED = "order.delivered"
    ORDER_REFUNDED = "order.refunded"
    STOCK_LOW = "stock.low"
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    REDEMPTION_CREATED = "redemption.created"
    COMMISSION_SETTLED = "commission.settled"


Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(Strict):
    url: Url
    events: Events
    description: Description | None = None


class WebhookUpdate(Strict):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    status: Literal["enabled", "disabled"] | None = None


class SecretRotation(Strict):
    grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400, description="how long the old secret also signs")


class Webhook(BaseModel):
    webhook_id: str
    url: str
    events: list[EventType]
    description: str | None = None
    status: Literal["enabled", "disabled"]
    failing_since: Timestamp | None = None
    previous_secret_valid_until: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(Webhook):
    secret: str  # shown this once


class WebhookList(BaseModel):
    items: list[Webhook]
    next_cursor: str | None = None


class Delivery(BaseModel):
    delivery_id: str
    event_id: str
    type: EventType
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_response_excerpt: str | None = Field(
        default=None, description="the answer's first 200 characters, or what went wrong"
    )
    next_attempt_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class DeliveryList(BaseModel):
    items: list[Delivery]
    next_cursor: str | None = None
