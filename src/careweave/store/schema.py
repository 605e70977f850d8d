"""The whole schema in one `metadata`: importing this module registers every table.

Migrations, `create_all` in tests and schema comparisons use this, so no table is forgotten
because its module happened not to be imported.
"""

from __future__ import annotations

from careweave.store import access_tables as access_tables
from careweave.store import notification_tables as notification_tables
from careweave.store.tables import metadata

__all__ = ["access_tables", "metadata", "notification_tables"]
