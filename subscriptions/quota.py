"""Quota dimensions and demands: plain values, no database access."""

from __future__ import annotations

from dataclasses import dataclass, fields

# The order is the order people read them in, on the dashboard and in error messages.
DIMENSIONS: tuple[str, ...] = ("vms", "vcpus", "ram_gib", "disk_gib", "networks", "public_ips")

DIMENSION_LABELS: dict[str, str] = {
    "vms": "VMs",
    "vcpus": "vCPUs",
    "ram_gib": "RAM (GiB)",
    "disk_gib": "Disk (GiB)",
    "networks": "Networks",
    "public_ips": "Public IPs",
}


@dataclass(frozen=True)
class Demand:
    """An amount of every quota dimension: what a resource needs, or what a plan allows."""

    vms: int = 0
    vcpus: int = 0
    ram_gib: int = 0
    disk_gib: int = 0
    networks: int = 0
    public_ips: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{f.name} must be a non-negative integer, not {value!r}")

    def __add__(self, other: Demand) -> Demand:
        return Demand(**{d: getattr(self, d) + getattr(other, d) for d in DIMENSIONS})

    def __mul__(self, count: int) -> Demand:
        return Demand(**{d: getattr(self, d) * count for d in DIMENSIONS})

    def as_dict(self) -> dict[str, int]:
        return {d: getattr(self, d) for d in DIMENSIONS}

    def is_zero(self) -> bool:
        return not any(self.as_dict().values())


@dataclass(frozen=True)
class Shortfall:
    """One exceeded dimension: what is used, the limit, and what was asked for."""

    dimension: str
    used: int
    limit: int
    requested: int

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self.dimension]

    def __str__(self) -> str:
        return (
            f"{self.label}: {self.used} used of {self.limit}, {self.requested} requested "
            f"({self.used + self.requested - self.limit} over)"
        )


class QuotaExceeded(Exception):
    """Raised by ``quota_reserve`` with every exceeded dimension, not only the first."""

    def __init__(self, shortfalls: list[Shortfall]) -> None:
        self.shortfalls = shortfalls
        super().__init__("Quota exceeded. " + "; ".join(str(s) for s in shortfalls))

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            s.dimension: {"used": s.used, "limit": s.limit, "requested": s.requested} for s in self.shortfalls
        }


@dataclass(frozen=True)
class QuotaUsage:
    """Used and limit for every dimension of one subscription, for bars and reviews."""

    used: Demand
    limit: Demand

    def rows(self) -> list[dict]:
        out = []
        for d in DIMENSIONS:
            used, limit = getattr(self.used, d), getattr(self.limit, d)
            percent = 100 if limit == 0 and used else (round(100 * used / limit) if limit else 0)
            out.append(
                {
                    "dimension": d,
                    "label": DIMENSION_LABELS[d],
                    "used": used,
                    "limit": limit,
                    "remaining": max(limit - used, 0),
                    "percent": min(percent, 100),
                    "level": "danger" if percent >= 90 else "warning" if percent >= 70 else "success",
                }
            )
        return out

    def shortfalls(self, demand: Demand) -> list[Shortfall]:
        return [
            Shortfall(d, getattr(self.used, d), getattr(self.limit, d), getattr(demand, d))
            for d in DIMENSIONS
            if getattr(demand, d) and getattr(self.used, d) + getattr(demand, d) > getattr(self.limit, d)
        ]
