"""The CryptoCloud API client the Celery workers use, behind the `PaymentProvider` port.

Public surface: `CryptoCloudClient` (the real one, sync httpx), `PaymentProvider` (what use cases
take), the results `CreatedInvoice` and `InvoiceState`, and the failure tree rooted at
`CryptoCloudError`. Unit tests use `infra.cryptocloud.fake.FakePaymentProvider`. Invoice ids
leave this package bare (`XXXXXXXX`, no `INV-`) and may enter it in either form; money is
`Decimal`, exactly as the provider sent it (rounding to the cent is the domain's job); times are
aware UTC datetimes.
"""

from infra.cryptocloud._client import CryptoCloudClient
from infra.cryptocloud._errors import (
    CryptoCloudError,
    CryptoCloudMoved,
    CryptoCloudProtocolError,
    CryptoCloudRejected,
    CryptoCloudUnavailable,
)
from infra.cryptocloud._model import INFO_BATCH_SIZE, CreatedInvoice, InvoiceState, PaymentProvider

__all__ = [
    "INFO_BATCH_SIZE",
    "CreatedInvoice",
    "CryptoCloudClient",
    "CryptoCloudError",
    "CryptoCloudMoved",
    "CryptoCloudProtocolError",
    "CryptoCloudRejected",
    "CryptoCloudUnavailable",
    "InvoiceState",
    "PaymentProvider",
]
