"""May this set be published openly? The source data set's terms decide (Contract 3).

`factory publish` calls `check_redistribution` before anything is uploaded:

- a private push is always allowed (the repo's readers are the owner's to choose);
- a public push is allowed when the source's terms allow redistribution of derived data;
- otherwise it is refused, naming the source and its terms, unless the user records an
  override naming who decided and why. The override is returned as a dict for the
  published lineage.json (`publication.terms_override`) and the card.

A set whose lineage records no source terms cannot be pushed publicly at all: nobody can
tell whether it may be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from factory.errors import FactoryError, GateFailed
from factory.package.croissant import source_of

OVERRIDE_FLAGS = '--terms-override-by "NAME" --terms-override-reason "WHY"'


class LicenceRefused(GateFailed):
    """A public push of a set whose source forbids redistribution (message says why)."""


def check_redistribution(
    lineage: Mapping[str, Any],
    *,
    private: bool,
    terms_override: Mapping[str, Any] | None = None,
    where: str = "the set",
) -> dict[str, Any] | None:
    """None when the push is allowed as it is; the recorded override when one was needed.

    Raises LicenceRefused for a public push the source's terms forbid (without override),
    and FactoryError for an override that does not say who decided and why.
    """
    override = _checked_override(terms_override)
    if private:
        return None
    record = source_of(lineage)
    if record is None:
        raise LicenceRefused(
            f"{where}: lineage.json records no source terms (source.record), so nobody can "
            "tell whether it may be published openly; repackage it (`dvc repro ingest "
            "package`) or publish privately (without --public)"
        )
    terms, dataset = record["terms"], record["dataset"]
    if terms["redistribution"]:
        return None
    if override is None:
        notes = f" {terms['notes']}" if terms.get("notes") else ""
        raise LicenceRefused(
            f"{where}: refusing a PUBLIC push: the source data set {dataset['name']!r} (read "
            f"by the {record.get('adapter')!r} adapter) does not allow redistribution of "
            f"derived data: {terms['license_name']} ({terms.get('url') or 'no URL'}).{notes} "
            f"Publish privately (drop --public), or record who decided otherwise with "
            f"{OVERRIDE_FLAGS}"
        )
    return {
        **override,
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": dataset["name"],
        "license": terms["license"],
        "license_name": terms["license_name"],
    }


def _checked_override(override: Mapping[str, Any] | None) -> dict[str, str] | None:
    if override is None:
        return None
    by = str(override.get("decided_by") or "").strip()
    why = str(override.get("reason") or "").strip()
    if not by or not why:
        missing = "--terms-override-by NAME" if not by else "--terms-override-reason WHY"
        raise FactoryError(
            f"a terms override needs both who decided and why: {missing} is missing "
            "(both are written into the published lineage.json and the card)"
        )
    return {"decided_by": by, "reason": why}
