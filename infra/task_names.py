"""Every Celery task's explicit name, in one place.

The doors (webhook_gateway, bot_frontend) send tasks by these names and never import workers;
workers register their functions under the same names. Operators call them with
`celery -A celery_app call NAME`.
"""

from __future__ import annotations

# payments queue
PROCESS_PAYMENT_EVENT = "payments.process_event"
RELAY_PAYMENT_INBOX = "payments.relay_inbox"
CHECKOUT = "payments.checkout"

# telegram queue (routes access.* and notifications.*): work that talks to the Bot API
GRANT_INVITE = "access.grant_invite"
HANDLE_JOIN_REQUEST = "access.handle_join_request"
START_TRIAL = "access.start_trial"
SEND_MESSAGE = "notifications.send_message"

# bulk queue: messages many people receive at once (reminders, expiry notices, broadcasts),
# consumed after every other queue and sent in the send budget's bulk lane
SEND_BULK_MESSAGE = "notifications.send_bulk_message"

# default queue: database-only use cases started by the bot
ACCEPT_TERMS = "users.accept_terms"
REGISTER_USER = "users.register"
SET_LANGUAGE = "users.set_language"
REQUEST_PAYOUT = "referrals.request_payout"
DECIDE_PAYOUT = "referrals.decide_payout"

# sweeps queue: beat's periodic work
EXPIRE_SUBSCRIPTIONS = "sweeps.expire_subscriptions"
SEND_RENEWAL_REMINDERS = "sweeps.send_renewal_reminders"
POLL_PENDING_INVOICES = "sweeps.poll_pending_invoices"

# bot frontend use cases (default queue unless a route above says otherwise)
RESEND_INVITE = "users.resend_invite"
ADMIN_AUDIT = "admin.audit"
ADMIN_ACTIVATE = "admin.activate"
ADMIN_EDIT = "admin.edit"
ADMIN_EXPORT_USERS = "admin.export_users"
ADMIN_ADD_REFERRER = "admin.add_referrer"
ADMIN_REMOVE_REFERRER = "admin.remove_referrer"
ADMIN_EXPORT_REFERRERS = "admin.export_referrers"
CONFIRM_SWEEP_HOLD = "sweeps.confirm_hold"
ADMIN_STATS = "admin.stats"

# promo and gift codes (default queue): redeeming, and the admin commands behind /promo_*
REDEEM_PROMO = "promos.redeem"
ADMIN_PROMO_ADD = "admin.promo_add"
ADMIN_PROMO_SET_ACTIVE = "admin.promo_set_active"
ADMIN_PROMO_DELETE = "admin.promo_delete"

# broadcasts: an admin's message to a segment. Start, stop and resume run on the default
# queue (an admin waits for them); the sending pages on the bulk queue, in the bulk lane.
BROADCAST_START = "broadcasts.start"
BROADCAST_STOP = "broadcasts.stop"
BROADCAST_RESUME = "broadcasts.resume"
BROADCAST_SEND_PAGE = "broadcasts.send_page"

# membership audit (/audit, /audit fix): start and fix on the default queue (an admin waits);
# the checking pages on the bulk queue, their getChatMember calls in the bulk lane
AUDIT_START = "audits.start"
AUDIT_CHECK_PAGE = "audits.check_page"
AUDIT_FIX = "audits.fix"

# plan switch (payments queue: an upgrade opens a CryptoCloud invoice for the difference)
SWITCH_PLAN = "payments.switch_plan"

# staff roles (default queue): /role, /resend, and a member's command menu after a change
ADMIN_SET_ROLE = "admin.set_role"
ADMIN_RESEND_INVITE = "admin.resend_invite"
REFRESH_STAFF_MENU = "admin.refresh_staff_menu"

# Telegram Stars: the invoice a Stars plan button asks for and the payment Telegram reports
# (payments queue), and the admin's /refund (default queue, like the other admin commands)
STARS_CHECKOUT = "payments.stars_checkout"
STARS_PAYMENT = "payments.stars_payment"
ADMIN_STARS_REFUND = "admin.stars_refund"
