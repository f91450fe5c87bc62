from backend.cli import entry

raise SystemExit(entry())
