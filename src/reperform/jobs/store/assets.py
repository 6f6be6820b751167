"""Assets: stored media (uploads), visible only to their organisation."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select

from ..db import Asset
from .database import Database

#: Assets never change once stored, so their rows are cached (bounded; responses echo their URLs).
ASSET_CACHE_SIZE = 4096


class Assets:
    """Asset rows. Every lookup names the organisation the asset must belong to."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, Asset] = {}

    def create(self, asset: Asset) -> Asset:
        with self._db.session() as s, s.begin():
            s.add(asset)
        return asset

    def get(self, asset_id: str, org_id: str) -> Asset | None:
        """The asset, or None when it does not exist or belongs to another organisation.

        The only way to look an asset up: ``org_id`` is required, so no route, job or view can
        resolve an id without saying whose it must be.
        """
        asset = self._cache.get(asset_id)
        if asset is None:
            with self._db.session() as s:
                asset = s.get(Asset, asset_id)
            if asset is not None:
                if len(self._cache) >= ASSET_CACHE_SIZE:
                    self._cache.clear()
                self._cache[asset_id] = asset
        if asset is None or asset.org_id != org_id:
            return None
        return asset

    def delete(self, asset_id: str, org_id: str) -> None:
        """Forget an asset row (the caller deletes its file): uploads of a refused create."""
        self._cache.pop(asset_id, None)
        with self._db.session() as s, s.begin():
            s.execute(delete(Asset).where(Asset.id == asset_id, Asset.org_id == org_id))

    def list(self, org_id: str, *, limit: int, offset: int, types: Iterable[str] = (),
             search: str | None = None, sort_by: str = "dateDesc") -> tuple[list[Asset], int]:
        """One page of the organisation's assets and how many there are in all."""
        q = select(Asset).where(Asset.org_id == org_id)
        kinds = [t.upper() for t in types]
        if kinds:
            q = q.where(Asset.type.in_(kinds))
        if search:
            q = q.where(Asset.name.ilike(f"%{search}%"))
        ascending = sort_by.endswith("Asc")
        field = sort_by.removesuffix("Asc").removesuffix("Desc")
        column = {"name": Asset.name, "date": Asset.created_at, "duration": Asset.duration_s,
                  "size": Asset.size, "kind": Asset.type}.get(field, Asset.created_at)
        order = column.asc() if ascending else column.desc()
        with self._db.session() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(s.scalars(q.order_by(order, Asset.id).offset(offset).limit(limit)))
        return rows, total
