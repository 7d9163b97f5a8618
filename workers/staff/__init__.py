"""Staff roles: granting and revoking them (/role), each member's command menu, /resend."""
