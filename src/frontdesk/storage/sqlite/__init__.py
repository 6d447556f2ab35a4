"""The embedded SQLite backend (WAL mode), the default storage of frontdesk."""
