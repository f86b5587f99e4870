"""Which installations a login may see, what they are called, and how groups relate to homes.

Homes and groups are both installations. A group is one with a caption
(``store.captions()``); its homes are the other installations whose sensors are all among
the group's sensors (the workbook lists a group's rows as the union of its homes' rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vde.models import ConfigVersion
from vde.storage.base import Store


@dataclass(frozen=True)
class Installation:
    installation_id: str
    caption: str  # a group's caption, or the id of a home
    kind: str  # "home" | "group"
    homes: int = 0  # number of homes in a group (0 for a home, or when unknown)
    groups: tuple[str, ...] = field(default=())  # for a home: the groups it belongs to
    members: tuple[str, ...] = field(default=())  # for a group: its homes' ids

    def as_json(self) -> dict:
        return {
            "id": self.installation_id,
            "caption": self.caption,
            "kind": self.kind,
            "homes": self.homes,
            "groups": list(self.groups),
        }


def describe(store: Store, config: ConfigVersion | None = None) -> dict[str, Installation]:
    """Every installation known to the database (config, access list, captions), by id."""
    config = config if config is not None else store.load_config()
    captions = store.captions()
    ids = set(captions) | {i for _, i in store.access()}
    sensors: dict[str, set[str]] = {}
    if config is not None:
        for r in config.rows:
            sensors.setdefault(r.installation_id, set()).add(r.sensor_id)
        ids |= set(sensors)
    homes_of: dict[str, list[str]] = {g: [] for g in captions}
    for g in captions:
        gs = sensors.get(g, set())
        for i, s in sensors.items():
            if i not in captions and s and gs and s <= gs:
                homes_of[g].append(i)
    out = {}
    for i in sorted(ids):
        if i in captions:
            out[i] = Installation(
                i,
                captions[i] or i,
                "group",
                homes=len(homes_of[i]),
                members=tuple(sorted(homes_of[i])),
            )
        else:
            groups = tuple(sorted(g for g, hs in homes_of.items() if i in hs))
            out[i] = Installation(i, i, "home", groups=groups)
    return out
