"""Bucket names: each service's documented rules, checked by the store constructors before any I/O."""

from __future__ import annotations

import pytest

from clinops_async import AsyncGCSPipelineStore, AsyncS3PipelineStore, ConfigurationError
from clinops_async._stores.buckets import check_gcs_bucket, check_s3_bucket

#: Names the test servers, the docs and the examples use: valid for both services.
USED_NAMES = [
    "my-clinical-bucket", "clinops-demo", "clinops-store", "env-bucket", "scratch", "some-bucket",
    "no-such-bucket-here", "bucket", "bucket-x", "ok-bucket",
]

DOTTED_222 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 30])

S3_GOOD = [
    *USED_NAMES,
    "abc",
    "a" * 63,
    "my.clinical.bucket",
    "1-2-3",
    "192.168.5.4a",  # not an IP address
    "sthree",  # only 'sthree-' is reserved
    "xn-a",
    "bucket-s3aliases",
]

S3_BAD = [
    ("", "must not be empty"),
    ("ab", "3 to 63 characters long; this one has 2"),
    ("a" * 64, "3 to 63 characters long; this one has 64"),
    ("My-Bucket", "only lowercase letters, digits, '.' and '-'"),
    ("my_bucket", "only lowercase letters, digits, '.' and '-'"),
    ("my bucket", "only lowercase letters"),
    ("bücket", "only lowercase letters"),
    ("-bucket", "start and end with a letter or digit"),
    ("bucket-", "start and end with a letter or digit"),
    ("bucket.", "start and end with a letter or digit"),
    ("my..bucket", "two adjacent dots"),
    ("192.168.5.4", "IP address"),
    ("xn--bucket", "prefix 'xn--'"),
    ("sthree-bucket", "prefix 'sthree-'"),
    ("sthree-configurator", "prefix 'sthree-'"),
    ("amzn-s3-demo-bucket", "prefix 'amzn-s3-demo-'"),
    ("bucket-s3alias", "suffix '-s3alias' for access point aliases"),
    ("bucket--ol-s3", "suffix '--ol-s3'"),
    ("bucket.mrap", "suffix '.mrap'"),
    ("bucket--usw2-az1--x-s3", "suffix '--x-s3' for directory buckets"),
    ("bucket--table-s3", "suffix '--table-s3'"),
]

GCS_GOOD = [
    *USED_NAMES,
    "abc",
    "a" * 63,
    "my_clinical_bucket",
    "example.com",
    "a.b.c",
    DOTTED_222,
    "g-o-o-g",  # only a name that starts with 'goog' is reserved
]

GCS_BAD = [
    ("", "must not be empty"),
    ("ab", "3 to 63 characters long (222 with dots); this one has 2"),
    ("a" * 64, "3 to 63 characters long (222 with dots); this one has 64"),
    (DOTTED_222 + "d", "with dots must be 3 to 222 characters long; this one has 223"),
    ("a" * 64 + ".com", "each dot-separated part of a GCS bucket name must be at most 63 characters; one has 64"),
    ("My-Bucket", "only lowercase letters, digits, '-', '_' and '.'"),
    ("my bucket", "only lowercase letters"),
    ("-bucket", "start and end with a letter or digit"),
    ("bucket_", "start and end with a letter or digit"),
    ("my..bucket", "two adjacent dots"),
    ("192.168.5.4", "IP address"),
    ("goog-bucket", "must not start with 'goog'"),
    ("my-google-bucket", "must not contain 'google'"),
]

NOT_NAMES = [
    ("s3://my-clinical-bucket", "bare bucket name"),
    ("gs://my-clinical-bucket", "bare bucket name"),
    ("my-clinical-bucket/prefix", "bare bucket name"),
    (42, "a string"),
    (None, "a string"),
]


@pytest.mark.parametrize("name", S3_GOOD)
def test_valid_s3_names_pass(name: str) -> None:
    check_s3_bucket(name)
    AsyncS3PipelineStore(name)


@pytest.mark.parametrize(("name", "rule"), S3_BAD)
def test_invalid_s3_names_state_the_broken_rule(name: str, rule: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncS3PipelineStore(name)
    assert str(caught.value).startswith(f"{name!r} is not a valid S3 bucket name: ")
    assert rule in str(caught.value)


@pytest.mark.parametrize("name", GCS_GOOD)
def test_valid_gcs_names_pass(name: str) -> None:
    check_gcs_bucket(name)
    AsyncGCSPipelineStore(name, emulator_host="http://127.0.0.1:1")


@pytest.mark.parametrize(("name", "rule"), GCS_BAD)
def test_invalid_gcs_names_state_the_broken_rule(name: str, rule: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncGCSPipelineStore(name, emulator_host="http://127.0.0.1:1")
    assert str(caught.value).startswith(f"{name!r} is not a valid GCS bucket name: ")
    assert rule in str(caught.value)


@pytest.mark.parametrize(("name", "rule"), NOT_NAMES)
def test_uris_paths_and_non_strings_are_refused_by_both(name: object, rule: str) -> None:
    for check in (check_s3_bucket, check_gcs_bucket):
        with pytest.raises(ConfigurationError, match=rule):
            check(name)


def test_names_only_one_service_allows_are_told_apart() -> None:
    check_gcs_bucket("my_bucket")
    with pytest.raises(ConfigurationError, match="S3"):
        check_s3_bucket("my_bucket")
    check_s3_bucket("googlebucket")
    with pytest.raises(ConfigurationError, match="GCS"):
        check_gcs_bucket("googlebucket")


def test_the_test_servers_bucket_names_are_valid(bucket_name: str) -> None:
    check_s3_bucket(bucket_name)
    check_gcs_bucket(bucket_name)
