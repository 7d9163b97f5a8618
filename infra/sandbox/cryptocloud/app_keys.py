"""Typed keys under which the aiohttp application carries the stand-in's state."""

from __future__ import annotations

from aiohttp import web

from infra.sandbox.cryptocloud.world import CryptoCloudWorld

WORLD = web.AppKey("cryptocloud_world", CryptoCloudWorld)
