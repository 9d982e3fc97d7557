"""What the service does, once: each behaviour one function that persists through the
store, then wakes waiters and the delivery worker itself.

Routers and pages translate HTTP to these calls and :mod:`.errors` back to HTTP; the
store only persists; the delivery package routes, signs, sends and keeps endpoint health.
"""
