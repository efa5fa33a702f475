"""Baseline relays: the same wire shape as Tsunagu with none of its work (no auth, no
storage), so the load generator can drive them and every figure becomes a ratio."""
