"""The central PostgreSQL database: many areas synced into one (docs/central.md).

Megatest's ``-sync-to`` with its ``mt-pg.sql`` schema, re-done: ``schema``
creates and migrates the central tables, ``source`` reads an area's sqlite
files read-only, ``sync`` runs one all-or-nothing pass per area, ``loop``
repeats it in the background of ``backend serve``, ``query`` reads across
areas. Depends on the core and on reading sqlite only. psycopg is imported
lazily (``driver``), so nothing else in the backend ever loads it.
"""
