"""A local stand-in of the CryptoCloud v2 API with hosted pay pages, postbacks and a control API.

    with CryptoCloudSandbox() as sandbox:       # or the `cryptocloud_sandbox` pytest fixture
        base = sandbox.base_url                 # use as CRYPTOCLOUD_API_BASE
        ...
        sandbox.pay("INV-XXXXXXXX")             # the payer pays in full → postback

Standalone: `python -m infra.sandbox cryptocloud`. Production code never imports this package.
"""

from infra.sandbox.cryptocloud.app import create_app
from infra.sandbox.cryptocloud.clock import SandboxClock
from infra.sandbox.cryptocloud.config import SandboxConfig
from infra.sandbox.cryptocloud.delivery import Delivery
from infra.sandbox.cryptocloud.invoices import Invoice, InvoiceStatus, TransitionRefused
from infra.sandbox.cryptocloud.sandbox import CryptoCloudSandbox
from infra.sandbox.cryptocloud.world import CryptoCloudWorld, InvoiceNotFound

__all__ = [
    "CryptoCloudSandbox",
    "CryptoCloudWorld",
    "Delivery",
    "Invoice",
    "InvoiceNotFound",
    "InvoiceStatus",
    "SandboxClock",
    "SandboxConfig",
    "TransitionRefused",
    "create_app",
]
