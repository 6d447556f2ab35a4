"""The PostgreSQL backend (asyncpg): the same storage contract as SQLite, for many processes."""
