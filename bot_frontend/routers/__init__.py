"""One router per area of the bot; `app.build_dispatcher` includes them in order."""
