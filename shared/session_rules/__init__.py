"""The rules the service and its client share: every input's alphabet and size, and the token format.

Pure (standard library only), so that the core layer and the agent-side client package both
ship this one copy: `limits` says what an input (and the signing key) may be, `tokens` mints, parses
and checks tokens, `keys` holds the key cache's policy and how long a key retired by a rotation
still checks them, and `codes` names every error code and refusal reason the service answers with.
"""
