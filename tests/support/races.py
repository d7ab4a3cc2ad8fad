"""A second writer that lands between the store's read and its write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from .accounts import AwsAccount


def other_writer(
    aws: AwsAccount, when: Callable[[str, dict[str, Any]], bool], write: Callable[[Any], object]
) -> list[bool]:
    """Run `write(client)` once, from another DynamoDB client, just before the store's first request
    that `when(operation, params)` matches: a concurrent writer exactly where a race would land."""
    other = boto3.client("dynamodb")
    done: list[bool] = []

    def race(params: dict[str, Any], model: Any, **_: Any) -> None:
        if not done and when(model.name, params):
            done.append(True)
            write(other)

    aws.dynamodb.meta.events.register("before-parameter-build.dynamodb", race)
    return done
