"""care team participant periods

A CareTeam participant whose `period.end` has passed (cover that has run out) is no longer a
legitimate relationship with the person. The access rules tell by pairing internal index rows
of each participant: its member (reference rows `participant:member`) and the last UK day it
takes part (date rows `participant:until`), numbered with the participant (`composite`). This
writes those rows for the CareTeams already stored; without them no participant of those
teams would reach the person. No table changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from careweave.store.participant_rows import index_participants

    index_participants(op.get_bind())


def downgrade() -> None:
    op.execute(
        sa.text(
            "DELETE FROM search_reference WHERE resource_type = 'CareTeam' "
            "AND param = 'participant:member'"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM search_date WHERE resource_type = 'CareTeam' "
            "AND param = 'participant:until'"
        )
    )
