"""The stand-in's fixed market: which fiat and crypto currencies exist and what they are worth.

Rates are invented and frozen so tests are deterministic; only their shape matters. Codes follow
the CryptoCloud v2 docs (reference cryptocloud.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

USD_CENT = Decimal("0.01")
CRYPTO_UNIT = Decimal("0.00000001")

# USD per unit of each fiat currency an invoice may be priced in.
FIAT_USD_RATES: dict[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "USD": "1", "UZS": "0.000079", "KGS": "0.0115", "KZT": "0.0021", "AMD": "0.0026",
        "AZN": "0.59", "BYN": "0.31", "AUD": "0.66", "TRY": "0.03", "AED": "0.2723",
        "CAD": "0.73", "CNY": "0.14", "HKD": "0.128", "IDR": "0.000062", "INR": "0.012",
        "JPY": "0.0067", "PHP": "0.0175", "SGD": "0.75", "THB": "0.029", "VND": "0.00004",
        "MYR": "0.23", "RUB": "0.011", "UAH": "0.024", "EUR": "1.08", "GBP": "1.27",
    }.items()
}  # fmt: skip

# network code → (id, full name); native coins live on the network named by their own code.
_NETWORKS: dict[str, tuple[int, str]] = {
    "BTC": (1, "Bitcoin"), "LTC": (2, "Litecoin"), "ERC20": (3, "Ethereum"), "TRC20": (4, "Tron"),
    "BSC": (5, "BNB Smart Chain"), "SOL": (6, "Solana"), "TON": (7, "TON"), "ARB": (8, "Arbitrum"),
    "BASE": (9, "Base"), "OPT": (10, "Optimism"),
}  # fmt: skip
_NATIVE_NETWORK = {"BTC": "BTC", "LTC": "LTC", "TRX": "TRC20", "SOL": "SOL", "TON": "TON",
                   "BNB": "BSC", "ETH": "ERC20"}  # fmt: skip
_NAMES = {
    "BTC": "Bitcoin", "LTC": "Litecoin", "TRX": "Tron", "SOL": "Solana", "TON": "Toncoin",
    "BNB": "BNB", "ETH": "Ethereum", "USDT": "Tether", "USDC": "USD Coin", "DAI": "Dai",
    "USDD": "USDD", "PYUSD": "PayPal USD", "XAUT": "Tether Gold", "ARB": "Arbitrum",
    "OP": "Optimism", "PEPE": "Pepe", "SHIB": "Shiba Inu", "TRUMP": "Official Trump",
}  # fmt: skip
_USD_PRICES = {
    "BTC": "60000", "LTC": "70", "TRX": "0.12", "SOL": "150", "TON": "5", "BNB": "550",
    "ETH": "3000", "USDT": "1", "USDC": "1", "DAI": "1", "USDD": "1", "PYUSD": "1",
    "XAUT": "2400", "ARB": "0.8", "OP": "1.7", "PEPE": "0.00001", "SHIB": "0.00002",
    "TRUMP": "10",
}  # fmt: skip
_STABLE = {"USDT", "USDC", "DAI", "USDD", "PYUSD"}
_FULLCODES = [
    "USDT_TRC20", "BTC", "LTC", "TRX", "SOL", "TON", "BNB", "ETH", "ETH_ARB", "ETH_BASE",
    "ETH_OPT", "USDT_ARB", "USDT_BSC", "USDT_ERC20", "USDT_OPT", "USDT_SOL", "USDT_TON",
    "USDC_ARB", "USDC_BASE", "USDC_BSC", "USDC_ERC20", "USDC_OPT", "USDC_SOL", "DAI_ARB",
    "DAI_BASE", "DAI_BSC", "DAI_ERC20", "DAI_OPT", "USDD_TRC20", "PYUSD_ERC20", "PYUSD_SOL",
    "XAUT_ERC20", "XAUT_TON", "ARB_ARB", "OP_OPT", "PEPE_BSC", "PEPE_ERC20", "SHIB_BSC",
    "SHIB_ERC20", "TRUMP_SOL",
]  # fmt: skip

DEFAULT_CRYPTO = "USDT_TRC20"  # what invoices show before the payer picks a coin (docs' example)


@dataclass(frozen=True, kw_only=True)
class Crypto:
    """One payable coin on one network, with the frozen price the stand-in converts at."""

    id: int
    fullcode: str
    code: str
    network: str
    name: str
    usd_price: Decimal
    order: int

    @property
    def stablecoin(self) -> bool:
        return self.code in _STABLE

    def from_usd(self, usd: Decimal) -> Decimal:
        return (usd / self.usd_price).quantize(CRYPTO_UNIT, rounding=ROUND_HALF_UP)

    def _network_object(self) -> dict[str, Any]:
        network_id, fullname = _NETWORKS[self.network]
        return {"code": self.network, "id": network_id, "icon": "", "fullname": fullname}

    def invoice_object(self) -> dict[str, Any]:
        """The `currency` object of invoices: `code` is the short code, `fullcode` the full one."""
        return {
            "id": self.id, "code": self.code, "fullcode": self.fullcode,
            "network": self._network_object(), "name": self.name, "is_email_required": False,
            "stablecoin": self.stablecoin, "icon_base": "", "icon_network": "", "icon_qr": "",
            "order": self.order,
        }  # fmt: skip

    def balance_object(self) -> dict[str, Any]:
        """The `currency` object of balances: `code` is the full code, `obj_network` the network."""
        return {
            "id": self.id, "code": self.fullcode, "short_code": self.code, "name": self.name,
            "is_email_required": False, "stablecoin": self.stablecoin, "icon_base": "",
            "icon_network": "", "icon_qr": "", "order": self.order,
            "obj_network": self._network_object(), "enable": True,
        }  # fmt: skip


def _build() -> dict[str, Crypto]:
    cryptos: dict[str, Crypto] = {}
    for index, fullcode in enumerate(_FULLCODES, start=1):
        code, _, network = fullcode.partition("_")
        cryptos[fullcode] = Crypto(
            id=index,
            fullcode=fullcode,
            code=code,
            network=network or _NATIVE_NETWORK[code],
            name=_NAMES[code],
            usd_price=Decimal(_USD_PRICES[code]),
            order=index,
        )
    return cryptos


CRYPTOS: dict[str, Crypto] = _build()


def fiat_to_usd(amount: Decimal, currency: str) -> Decimal:
    return (amount * FIAT_USD_RATES[currency]).quantize(USD_CENT, rounding=ROUND_HALF_UP)
