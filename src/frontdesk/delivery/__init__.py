"""Delivery: per-session logs read through cursors, long-poll waiting, WebSocket fan-out."""
