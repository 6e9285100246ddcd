"""Per-backend test environments: make a store on an isolated bucket, and reach its raw bytes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3

from clinops_async import AsyncS3PipelineStore
from clinops_async._local import AsyncLocalPipelineStore
from clinops_async._store import AsyncPipelineStore

__all__ = ["LocalEnv", "S3Env", "StoreEnv"]


class StoreEnv:
    """A fresh bucket (or directory) on one backend."""

    name: str
    bucket: str
    scheme: str

    def make(self, prefix: str = "", **options: Any) -> AsyncPipelineStore:
        raise NotImplementedError

    def keys(self) -> list[str]:
        """Every object key in the bucket."""
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write raw bytes (keeping the given metadata), bypassing the library."""
        raise NotImplementedError

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata stored with ``key``."""
        return {}

    def incomplete_uploads(self) -> int:
        """Multipart uploads / resumable sessions / temporary components still pending."""
        return 0


class LocalEnv(StoreEnv):
    name = "local"
    scheme = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bucket = str(root)

    def make(self, prefix: str = "", **options: Any) -> AsyncPipelineStore:
        return AsyncLocalPipelineStore(self.root, prefix, **options)

    def keys(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def get_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class S3Env(StoreEnv):
    name = "s3"
    scheme = "s3"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.bucket = f"test-{uuid.uuid4().hex[:12]}"
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        self.client.create_bucket(Bucket=self.bucket)

    def make(self, prefix: str = "", **options: Any) -> AsyncPipelineStore:
        return AsyncS3PipelineStore(self.bucket, prefix, endpoint_url=self.endpoint, **options)

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

    def get_bytes(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {})

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.client.head_object(Bucket=self.bucket, Key=key)["Metadata"])

    def incomplete_uploads(self) -> int:
        return len(self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []))
