"""The contact-center engine: sessions, parties, routing, timers. Knows nothing of HTTP."""
