"""Core of the SWAIG session service: tokens, signing keys, session store, HTTP glue."""
