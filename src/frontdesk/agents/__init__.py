"""Agent REST + WebSocket API (thin: authenticate, one domain action, serialise)."""
