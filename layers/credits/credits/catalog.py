"""The server-side bundle catalog: what each bundle costs and how many credits it grants.

Loaded and validated once (cold start) from ``catalog.json``; clients only ever name a bundle id.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from credits.models import MAX_AMOUNT, MAX_GRANT_DAYS

CATALOG_FILE = Path(__file__).with_name("catalog.json")


class Bundle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: str = Field(min_length=1, max_length=80)
    credits: int = Field(gt=0, le=MAX_AMOUNT)
    unit_amount: int = Field(gt=0, description="Price in the currency's smallest unit (cents).")
    currency: str = Field(pattern=r"^[a-z]{3}$")
    lookup_key: str = Field(min_length=1, max_length=200)
    # Purchases of this bundle become paid grants that expire this long after fulfilment (None = never).
    expires_after_days: int | None = Field(default=None, ge=1, le=MAX_GRANT_DAYS)

    def public(self) -> dict[str, object]:
        return self.model_dump(include={"id", "name", "credits", "unit_amount", "currency", "expires_after_days"})


class Feature(BaseModel):
    """One line of the price list: what a unit of a feature costs, in credits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=80)
    credits_per_unit: int = Field(ge=1, le=MAX_AMOUNT)
    unit: str = Field(min_length=1, max_length=40)

    def public(self) -> dict[str, object]:
        return self.model_dump()


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bundles: tuple[Bundle, ...]
    features: tuple[Feature, ...] = ()

    @field_validator("features")
    @classmethod
    def _unique_features(cls, features: tuple[Feature, ...]) -> tuple[Feature, ...]:
        ids = [f.id for f in features]
        if len(set(ids)) != len(ids):
            raise ValueError("feature ids must be unique")
        return features

    @field_validator("bundles")
    @classmethod
    def _unique_and_has_standard(cls, bundles: tuple[Bundle, ...]) -> tuple[Bundle, ...]:
        ids = [b.id for b in bundles]
        if len(set(ids)) != len(ids):
            raise ValueError("bundle ids must be unique")
        if len({b.lookup_key for b in bundles}) != len(bundles):
            raise ValueError("bundle lookup_keys must be unique")
        if "standard" not in ids:
            raise ValueError("the 'standard' bundle must exist")
        return bundles

    def get(self, bundle_id: str) -> Bundle | None:
        return next((b for b in self.bundles if b.id == bundle_id), None)

    def feature(self, feature_id: str) -> Feature | None:
        return next((f for f in self.features if f.id == feature_id), None)

    def credits_per_unit(self, feature_id: str) -> int | None:
        found = self.feature(feature_id)
        return found.credits_per_unit if found else None


@lru_cache(maxsize=1)
def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Parse and validate the catalog; a broken file fails the cold start, not a purchase."""
    return Catalog.model_validate(json.loads(path.read_text(encoding="utf-8")))
