"""Shared set-up for in-process benchmarks: moto's AWS with the stack's resources."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws

import local  # noqa: F401  (puts api/ on the import path)
from chalicelib.aws import Store, get_store
from chalicelib.settings import get_settings
from local.delivery import LocalDelivery
from local.resources import Names, provision

NAMES = Names.for_stack("bench")
OWNER = "bench-owner"


@contextmanager
def in_process_stack() -> Iterator[tuple[Store, LocalDelivery]]:
    """moto in process, resources provisioned, the API's store and a delivery."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            **NAMES.environment(),
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            get_settings.cache_clear()
            get_store.cache_clear()
            session = boto3.session.Session(region_name="us-east-1")
            os.environ.update(provision(session, NAMES))
            yield get_store(), LocalDelivery(session=session, delivery_stream=NAMES.delivery)
    finally:
        get_settings.cache_clear()
        get_store.cache_clear()
        os.environ.clear()
        os.environ.update(saved)
