"""FHIR R4 Subscriptions: other systems are told when a resource they care about changes.

A system (an administrator or a platform-wide integration, see careweave.access.policy)
registers a `Subscription` with `criteria` (a search such as ``Encounter?class=IMP``) and a
`rest-hook` channel. Two parts do the work:

- `matching`: a write observer on the store. Inside each write transaction it checks and
  activates Subscriptions as they are written (status `requested` becomes `active`; bad
  criteria or a bad channel refuse the write with 422), and queues every written version that
  matches an active Subscription in the `subscription_delivery` outbox, so the queue commits
  or rolls back with the write.
- `delivery`: a worker that sends what is queued, retrying with backoff, and sets a
  Subscription to `error` when its endpoint keeps failing.
"""

from __future__ import annotations

from careweave.subscriptions.matching import watch_subscriptions

__all__ = ["watch_subscriptions"]
