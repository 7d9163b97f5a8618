"""The one settings object of a process (work in progress: constants first)."""

from __future__ import annotations

# Sandbox credentials: what `make run` and the tests use when no real ones are configured.
# They only ever reach the local stand-ins (infra/sandbox), never a real service.
SANDBOX_BOT_TOKEN = "123456789:SANDBOX-bot-token"
SANDBOX_BOT_USERNAME = "sandbox_paywall_bot"
SANDBOX_CHANNEL_ID = -1001000000001
SANDBOX_CHANNEL_TITLE = "Sandbox private channel"
SANDBOX_ADMIN_ID = 100
SANDBOX_CRYPTOCLOUD_API_KEY = "sandbox-api-key"
SANDBOX_CRYPTOCLOUD_SHOP_ID = "SANDBOXSHOP00001"
SANDBOX_CRYPTOCLOUD_SECRET_KEY = "sandbox-secret-key-for-postback-jwt"
