"""What a page of Gmail's history.list says happened to messages: added, deleted, relabelled.

Records come oldest first. A message deleted for good (`messagesDeleted`) is gone whatever else the
page says of it; a message moved to the trash is only a label change (`labelsAdded` TRASH), and
stays. Label changes are kept as the ordered deltas the records carry: applied in order to a
stored copy, each label ends as the last change to it left it, whichever state the copy was
fetched in, so a copy read before or after some of the changes ends up true all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokensync.errors import MalformedResponseError
from tokensync.platforms.shapes import field_of, key_of, objects

# What history.list is asked for (the `historyTypes` parameter, repeated).
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")

# A label change: True to add the labels, False to remove them.
LabelDelta = tuple[bool, tuple[str, ...]]


@dataclass
class Changes:
    """The messages a history page touched, each id once, in the order they first appear."""

    added: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)
    labels: dict[str, list[LabelDelta]] = field(default_factory=dict)

    def touched(self) -> list[str]:
        """Messages added or relabelled that still exist: their stored copy must be brought up to
        date (fetched, or relabelled)."""
        return [i for i in {**self.added, **self.labels} if i not in self.deleted]


def changes_of(records: Sequence[dict[str, Any]], where: str) -> Changes:
    """The changes of a page of history records."""
    changes = Changes()
    for record in records:
        for entry in _entries(record, "messagesAdded", where):
            changes.added[_message_id(entry, where)] = None
        for entry, adds in (
            *((e, True) for e in _entries(record, "labelsAdded", where)),
            *((e, False) for e in _entries(record, "labelsRemoved", where)),
        ):
            labels = tuple(_labels(entry, where))
            changes.labels.setdefault(_message_id(entry, where), []).append((adds, labels))
        for entry in _entries(record, "messagesDeleted", where):
            changes.deleted[_message_id(entry, where)] = None
    return changes


def relabelled(data: Mapping[str, object], deltas: Sequence[LabelDelta]) -> dict[str, object]:
    """A stored message with its label changes applied in order (labels added go last)."""
    stored = data.get("labelIds")
    labels = [x for x in stored if isinstance(x, str)] if isinstance(stored, list) else []
    for adds, ids in deltas:
        if adds:
            labels += [i for i in ids if i not in labels]
        else:
            labels = [i for i in labels if i not in ids]
    return {**data, "labelIds": labels}


def _entries(record: dict[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    return objects(record.get(name) or [], where)


def _message_id(entry: dict[str, Any], where: str) -> str:
    return key_of(field_of(entry, "message", dict, where), "id", where)


def _labels(entry: dict[str, Any], where: str) -> list[str]:
    labels = field_of(entry, "labelIds", list, where)
    if not all(isinstance(label, str) for label in labels):
        raise MalformedResponseError(f"{where}: a label id is not a string")
    return [str(label) for label in labels]
