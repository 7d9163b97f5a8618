"""Membership audits: each known person's actual standing in the chats, the report, the fix."""
