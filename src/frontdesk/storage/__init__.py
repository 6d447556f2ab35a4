"""Storage: interfaces per area (records.py, interfaces.py) and their backends (sqlite/)."""
