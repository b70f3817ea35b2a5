"""Redis Cluster hash slots: which slot a key is in, and the rules corral keeps.

A Cluster spreads keys over 16384 slots by the CRC16 of the key, or of its
*hash tag*: the text between the first ``{`` and the next ``}`` when that text
is not empty. A script may touch keys of one slot only, so every key of a queue
(``<prefix>:<queue>:…``) must share one: the prefix or the queue name carries a
hash tag, as BullMQ documents (``prefix='{bull}'`` puts every queue of the prefix
in one slot; a queue named ``{orders}`` gets a slot of its own).

:func:`check_queue_slot` refuses a queue whose keys would spread, and
:func:`check_flow_slot` a flow whose queues are not all in one slot, each with
an error that says how to choose the prefix. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.errors import ConfigurationError

__all__ = ["SLOTS", "check_flow_slot", "check_queue_slot", "hash_tag", "key_slot"]

SLOTS = 16384


def _crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def hash_tag(key: str) -> str | None:
    """The part of ``key`` Redis Cluster hashes, when it is a hash tag; else None."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end < 0 or end == start + 1:
        return None
    return key[start + 1 : end]


def key_slot(key: str) -> int:
    """The hash slot of ``key`` (0 … 16383)."""
    tag = hash_tag(key)
    return _crc16((key if tag is None else tag).encode()) % SLOTS


def _base_has_tag(base: str) -> bool:
    """Whether every key starting with ``base`` takes its hash tag from ``base``."""
    start = base.find("{")
    if start < 0:
        return False
    end = base.find("}", start + 1)
    return end > start + 1


def check_queue_slot(prefix: str, queue: str) -> None:
    """Refuse a queue whose keys would spread over several slots of a Cluster."""
    if not _base_has_tag(f"{prefix}:{queue}:"):
        raise ConfigurationError(
            f"queue {queue!r} under prefix {prefix!r} would spread its keys over several "
            "Redis Cluster hash slots, and its scripts would fail: brace the prefix "
            f"(prefix='{{{prefix}}}': every queue of the prefix in one slot, which flows "
            f"across queues need) or the queue name ('{{{queue}}}': a slot per queue)"
        )


def check_flow_slot(keys: Iterable[str]) -> None:
    """Refuse a flow (or a child with a parent) whose queues' keys are in several slots."""
    slots: dict[int, str] = {}
    for key in keys:
        slots.setdefault(key_slot(key), key)
    if len(slots) > 1:
        shown = ", ".join(repr(k) for k in list(slots.values())[:3])
        raise ConfigurationError(
            f"a flow's queues must share one Redis Cluster hash slot, but {shown} are in "
            "different ones: give every queue of the flow one braced prefix "
            "(prefix='{app}' on each Queue, Worker and FlowProducer of the flow)"
        )
