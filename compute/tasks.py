"""Compute's periodic tasks (beat). Thin: they call compute.reconcile."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from compute.reconcile import reconcile_hosts


@shared_task(name="compute.reconcile", ignore_result=True)
def reconcile_task() -> dict:
    return asdict(reconcile_hosts())
