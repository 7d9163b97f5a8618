"""The Bot API methods the stand-in implements, one module per area.

Importing the area modules registers their handlers in `registry`.
"""

from infra.sandbox.telegram.methods import chats, messages, payments, polling
from infra.sandbox.telegram.methods.registry import (
    Described,
    MethodCall,
    canonical_name,
    invoke,
)

__all__ = ["Described", "MethodCall", "canonical_name", "chats", "invoke", "messages", "payments",
           "polling"]
