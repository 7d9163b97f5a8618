"""Broadcasts: an admin's message to a segment, sent once per recipient in the bulk lane."""
