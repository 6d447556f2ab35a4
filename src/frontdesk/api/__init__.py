"""Customer HTTP routes of the Mobile/Web API (thin: parse, authenticate, one action, serialise)."""
