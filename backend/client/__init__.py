"""The client side: Client policy, launcher, control, status, standby requests.

Uses wire and the core only: never db, never server (the monitor builds on it).
"""
