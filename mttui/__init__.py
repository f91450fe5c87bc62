"""mttui: a live terminal monitor of an area's database servers (see docs/monitor.md)."""
