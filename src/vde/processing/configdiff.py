"""Differences between two configuration versions (pure).

What changed, and which installations' power must be recomputed: those whose Network or
Prod signs, StartDate or sensor set changed, and those added. Cons and VE signs are
informative (consumption is derived as total - production), so they are reported but do
not trigger a recompute. Tokens are compared but never returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vde.models import NO_START_TS, ConfigVersion, SensorRow
from vde.timeutil import iso_utc

#: SensorRow fields compared, and whether a change alters the installation's power.
_FIELDS: dict[str, bool] = {
    "net": True,
    "prod": True,
    "start_ts": True,
    "cons": False,
    "ve": False,
    "flm_id": False,
    "function": False,
}


@dataclass(frozen=True)
class RowChange:
    """One field of one (installation, sensor) row that changed between the versions."""

    installation_id: str
    sensor_id: str
    field: str  # a SensorRow field name, or "token" (values then omitted: secret)
    old: int | str | None
    new: int | str | None


@dataclass
class ConfigDiff:
    """Differences from version ``old_id`` to ``new_id`` (``old_id`` None: from nothing)."""

    old_id: int | None
    new_id: int | None
    installations_added: list[str] = field(default_factory=list)
    installations_removed: list[str] = field(default_factory=list)
    sensors_added: list[str] = field(default_factory=list)  # distinct sensor ids
    sensors_removed: list[str] = field(default_factory=list)
    rows_added: list[tuple[str, str]] = field(default_factory=list)  # (installation, sensor)
    rows_removed: list[tuple[str, str]] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    #: installations in both versions whose signs (Network/Prod), start or sensor set changed
    installations_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.rows_added or self.rows_removed or self.changes)

    @property
    def recompute_installations(self) -> list[str]:
        """Installations whose power must be (re)computed from raw data under the new version."""
        return sorted(set(self.installations_changed) | set(self.installations_added))

    def sign_changes(self) -> list[RowChange]:
        return [c for c in self.changes if c.field in ("net", "prod", "cons", "ve")]

    def to_dict(self) -> dict:
        """JSON-serialisable form (no token values)."""
        return {
            "old_version": self.old_id,
            "new_version": self.new_id,
            "installations_added": self.installations_added,
            "installations_removed": self.installations_removed,
            "installations_changed": self.installations_changed,
            "sensors_added": self.sensors_added,
            "sensors_removed": self.sensors_removed,
            "rows_added": [list(k) for k in self.rows_added],
            "rows_removed": [list(k) for k in self.rows_removed],
            "changes": [
                {
                    "installation_id": c.installation_id,
                    "sensor_id": c.sensor_id,
                    "field": c.field,
                    "old": c.old,
                    "new": c.new,
                }
                for c in self.changes
            ],
            "recompute_installations": self.recompute_installations,
        }


def _by_key(rows: tuple[SensorRow, ...]) -> dict[tuple[str, str], SensorRow]:
    return {(r.installation_id, r.sensor_id): r for r in rows}


def diff_configs(old: ConfigVersion | None, new: ConfigVersion | None) -> ConfigDiff:
    """Compare two configuration versions.

    Parameters
    ----------
    old, new : ConfigVersion or None
        The versions; None stands for an empty configuration.

    Returns
    -------
    ConfigDiff
        Added/removed installations, sensors and rows, changed fields (token changes are
        flagged without their values) and the installations whose power depends on them.
    """
    a = _by_key(old.rows if old else ())
    b = _by_key(new.rows if new else ())
    inst_a = {k[0] for k in a}
    inst_b = {k[0] for k in b}
    sens_a = {k[1] for k in a}
    sens_b = {k[1] for k in b}
    out = ConfigDiff(
        old_id=old.version_id if old else None,
        new_id=new.version_id if new else None,
        installations_added=sorted(inst_b - inst_a),
        installations_removed=sorted(inst_a - inst_b),
        sensors_added=sorted(sens_b - sens_a),
        sensors_removed=sorted(sens_a - sens_b),
        rows_added=sorted(set(b) - set(a)),
        rows_removed=sorted(set(a) - set(b)),
    )
    changed: set[str] = set()
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        for name, affects_power in _FIELDS.items():
            va, vb = getattr(ra, name), getattr(rb, name)
            if va != vb:
                out.changes.append(RowChange(key[0], key[1], name, va, vb))
                if affects_power:
                    changed.add(key[0])
        if ra.token != rb.token:
            out.changes.append(RowChange(key[0], key[1], "token", None, None))
    # A sensor joining or leaving an installation that exists in both changes its power.
    both = inst_a & inst_b
    changed |= {i for i, _ in out.rows_added + out.rows_removed if i in both}
    out.installations_changed = sorted(changed)
    return out


def format_diff(d: ConfigDiff, iso: Callable[[int], str] = str) -> list[str]:
    """Human-readable lines of a diff; ``iso`` formats version ids."""
    head = f"{iso(d.old_id) if d.old_id is not None else '(none)'} -> {iso(d.new_id) if d.new_id is not None else '(none)'}"
    if d.empty:
        return [head, "no differences"]
    lines = [head]
    for label, items in (
        ("installations added", d.installations_added),
        ("installations removed", d.installations_removed),
        ("installations changed (signs, start or sensors)", d.installations_changed),
        ("sensors added", d.sensors_added),
        ("sensors removed", d.sensors_removed),
    ):
        if items:
            lines.append(f"{label} ({len(items)}): {', '.join(items)}")
    for inst, sensor in d.rows_added:
        lines.append(f"+ {inst} {sensor}")
    for inst, sensor in d.rows_removed:
        lines.append(f"- {inst} {sensor}")
    for c in d.changes:
        if c.field == "token":
            lines.append(f"~ {c.installation_id} {c.sensor_id} token changed")
        elif c.field == "start_ts":
            old, new = (
                iso_utc(int(v)) if int(v) != NO_START_TS else "no start date"  # type: ignore[arg-type]
                for v in (c.old, c.new)
            )
            lines.append(f"~ {c.installation_id} {c.sensor_id} StartDate: {old} -> {new}")
        else:
            lines.append(f"~ {c.installation_id} {c.sensor_id} {c.field}: {c.old} -> {c.new}")
    lines.append(f"to recompute: {', '.join(d.recompute_installations) or 'none'}")
    return lines
