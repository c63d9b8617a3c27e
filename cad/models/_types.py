"""Column helpers shared by the models."""

from __future__ import annotations

from enum import Enum

import sqlalchemy as sa


def enum_column(enum: type[Enum], name: str) -> sa.Enum:
    """A StrEnum stored by value as VARCHAR with a CHECK constraint (portable, readable)."""
    return sa.Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(m.value)) for m in enum) + 8,
        values_callable=lambda e: [str(m.value) for m in e],
        validate_strings=True,
    )
