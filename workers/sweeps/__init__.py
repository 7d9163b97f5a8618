"""The access lifecycle sweeps: expiry with its circuit breaker, and renewal reminders."""
