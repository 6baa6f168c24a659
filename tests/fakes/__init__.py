"""Local fake payment providers (WeChat Pay API v3, Alipay open platform, Stripe) for tests.

Each fake is a small HTTP server on 127.0.0.1 that acts as the provider: it checks the requests
our code sends the way the provider does, keeps state, answers like the provider (signed where the
provider signs) and delivers notifications signed with keys the tests hold.

Beside them, in-memory fakes of the domain's ports (kayisu.ports, kayisu.orders.ports,
kayisu.alerts.ports) for unit tests of the rules: money.py (payment records, fulfilment
requests), fulfilment.py (orders, cards and stock for delivery and refunds, a provider's
refunds), stock_alerts.py (the catalog and the low-stock alert's state), messages.py (mail,
queues, operators' alerts).
"""

from tests.fakes.server import Call, Delivery, FakeServer, Response, deliver

__all__ = ["Call", "Delivery", "FakeServer", "Response", "deliver"]
