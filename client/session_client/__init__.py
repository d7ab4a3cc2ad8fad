"""Client for the SWAIG session service (a drop-in for the SDK's SessionManager)."""
