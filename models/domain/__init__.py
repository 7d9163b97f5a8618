"""The domain core: the rules of selling access to the channel, with no framework at all.

It owns money arithmetic (`money`), the commission ledger and payout wallets (`ledger`), the
invoice state machine (`invoices`), the access lifecycle of a subscriber (`access`), the plan
catalogue (`plans`) and the business figures replayed from the history (`stats`). It imports
only the standard library, never reads a clock (callers pass `now`), works on aware datetimes
and `Decimal` money. Import from the modules themselves: this
package re-exports nothing, so each name has exactly one home.
"""
