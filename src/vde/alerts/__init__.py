"""Alerts: pure checks on a day's arrays, report formatting, the mailer, and the daily run.

``run_alerts(store, settings)`` is the entry point (``vde.alerts.run``); the CLI and the web
scheduler call it. Checks (``checks``) and the sun mask (``sun``) do no I/O.
"""
