"""Webhook signing secrets at rest: seal on write, open on read, re-seal under a new key.

A `whsec_` secret is stored sealed (see `engine.adapters.secretbox`), so a database dump
alone cannot sign our webhooks. What is sealed is the secret's 24 key bytes, not its text,
so the value fits the existing 100-character columns; the text is rebuilt exactly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import sqlalchemy as sa

from engine.adapters import secretbox, tables
from engine.domain import signing
from engine.services.context import Context


def seal(keys: secretbox.Keyring, secret: str) -> str:
    """The stored form of a `whsec_` secret."""
    raw = signing.key_bytes(secret)
    if _text(raw) != secret:
        raise ValueError("not a canonical whsec_ secret; refusing to store it altered")
    return keys.seal(raw)


def reveal(keys: secretbox.Keyring, stored: str) -> str:
    """The `whsec_` secret a column holds; legacy plaintext is returned as it is.

    Raises:
        secretbox.CannotOpen: sealed under a key we do not hold, or altered.
    """
    if not secretbox.is_sealed(stored):
        return stored
    return _text(keys.open(stored))


def _text(raw: bytes) -> str:
    return signing.PREFIX + base64.b64encode(raw).decode()


@dataclass
class ResealReport:
    resealed: int = 0
    #: Endpoint ids whose secrets no key we hold opens (left as they are).
    unreadable: list[str] = field(default_factory=list)


def reseal_all(app: Context, *, batch_size: int = 200) -> ResealReport:
    """Seal every stored secret (and previous secret) under the current SECRET_KEY.

    Rows already under it are skipped, so running it again is harmless. Each batch is one
    transaction, and each row is a compare-and-set on the values read: a secret rotated by
    its partner meanwhile is not overwritten, and is picked up by the next pass.
    """
    keys = app.secret_keys
    e = tables.WebhookEndpoint
    mine = f"{secretbox.PREFIX}{keys.current_id}:%"
    stale = sa.or_(
        e.secret.not_like(mine),
        sa.and_(e.previous_secret.is_not(None), e.previous_secret.not_like(mine)),
    )
    report = ResealReport()
    for _ in range(5):  # further passes only for rows changed under us
        conflicts = 0
        after = None
        while True:
            with app.uow() as uow:
                query = sa.select(e.id, e.secret, e.previous_secret).where(stale)
                if after is not None:
                    query = query.where(e.id > after)
                rows = uow.session.execute(query.order_by(e.id).limit(batch_size)).all()
                if not rows:
                    break
                after = rows[-1].id
                for row in rows:
                    try:
                        secret = seal(keys, reveal(keys, row.secret))
                        previous = (
                            seal(keys, reveal(keys, row.previous_secret))
                            if row.previous_secret is not None
                            else None
                        )
                    except (secretbox.CannotOpen, ValueError):
                        if str(row.id) not in report.unreadable:
                            report.unreadable.append(str(row.id))
                        continue
                    done = uow.session.execute(
                        sa.update(e)
                        .where(
                            e.id == row.id,
                            e.secret == row.secret,
                            e.previous_secret.is_not_distinct_from(row.previous_secret),
                        )
                        .values(secret=secret, previous_secret=previous)
                        .returning(e.id)
                    ).first()
                    if done:
                        report.resealed += 1
                    else:
                        conflicts += 1
                uow.commit()
        if not conflicts:
            break
    return report
