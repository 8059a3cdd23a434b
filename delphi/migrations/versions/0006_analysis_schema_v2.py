"""stored round results in analysis schema version 2: codes and numbers only (data only)

Every ``round_result.data`` of version 1 (no ``schema_version``) becomes version 2 with
``delphi.consensus.upgrade.upgrade_v1``: the English rule descriptions and scale words
go (they are rendered from the registries when shown), each panel row gets the reason
its Fleiss' kappa is null. The downgrade converts version 2 back with ``downgrade_v2``
(the words come back from the registries). No table or column changes.

Revision ID: 8c4f2a6d1e07
Revises: 5b2d8e7a9c05
Create Date: 2026-12-01 18:30:00

"""
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from delphi.consensus.upgrade import downgrade_v2, upgrade_v1

# revision identifiers, used by Alembic.
revision = '8c4f2a6d1e07'
down_revision = '5b2d8e7a9c05'
branch_labels = None
depends_on = None

round_result = sa.table('round_result', sa.column('id', sa.Integer),
                        sa.column('data', sa.JSON))


def _version(data: Any) -> Any:
    return data.get('schema_version', 1) if isinstance(data, dict) else None


def _convert(source: int, convert: Callable[[dict[str, Any]], Any], target: int) -> None:
    """Convert every stored result of version ``source`` and leave those at ``target``.
    Any other version is refused before anything is converted, rather than guessed at."""
    bind = op.get_bind()

    def data_of(result_id: int) -> Any:
        return bind.execute(sa.select(round_result.c.data)
                            .where(round_result.c.id == result_id)).scalar_one()

    ids = bind.execute(sa.select(round_result.c.id).order_by(round_result.c.id)).scalars().all()
    todo = []
    for result_id in ids:  # one at a time: a study's result can be large
        version = _version(data_of(result_id))
        if version not in (source, target):
            raise RuntimeError(f'round_result {result_id}: analysis schema version {version!r} '
                               f'is neither {source} nor {target}; nothing was converted')
        if version == source:
            todo.append(result_id)
    for result_id in todo:
        bind.execute(round_result.update().where(round_result.c.id == result_id)
                     .values(data=convert(data_of(result_id))))


def upgrade():
    _convert(1, upgrade_v1, 2)


def downgrade():
    _convert(2, downgrade_v2, 1)
