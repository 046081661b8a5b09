"""The lifecycle events an application hears of: signed as Standard Webhooks (webhook.py),
delivered from the outbox (delivery.py), announced when time makes them (notices.py), and listed
or replayed for an application that would rather pull (event_log.py)."""
