"""Per-backend test environments: make a store on an isolated bucket, and reach its raw bytes."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]

from clinops_async import AsyncS3PipelineStore
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from clinops_async._stores.gcs.upload import TEMP_MARK
from clinops_async._stores.local import AsyncLocalPipelineStore

if TYPE_CHECKING:
    from pathlib import Path

    from clinops_async._stores.core import AsyncPipelineStore

__all__ = ["GCSEnv", "LocalEnv", "S3Env", "StoreEnv", "gcs_create_bucket"]


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
    """A fresh bucket on an S3 server: moto (``name="s3"``) or SeaweedFS (``name="seaweedfs"``)."""

    scheme = "s3"

    def __init__(self, endpoint: str, name: str = "s3") -> None:
        self.name = name
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


def gcs_create_bucket(endpoint: str, bucket: str) -> None:
    """Create a bucket on a GCS emulator (gcloud-aio-storage has no create_bucket)."""
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project=p", data=json.dumps({"name": bucket}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


class GCSEnv(StoreEnv):
    """A fresh bucket on a GCS emulator (gcp-storage-emulator or fake-gcs-server)."""

    scheme = "gs"

    def __init__(self, name: str, endpoint: str) -> None:
        self.name = name
        self.endpoint = endpoint
        self.bucket = f"test-{uuid.uuid4().hex[:12]}"
        if name == "gcs-emulator":
            # gcp-storage-emulator rewrites its whole index on every write: start each test empty.
            urllib.request.urlopen(f"{endpoint}/wipe", timeout=30).close()
        gcs_create_bucket(endpoint, self.bucket)

    def make(self, prefix: str = "", **options: Any) -> AsyncPipelineStore:
        return AsyncGCSPipelineStore(self.bucket, prefix, emulator_host=self.endpoint, **options)

    def _url(self, key: str) -> str:
        return f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{urllib.parse.quote(key, safe='')}"

    def _get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=60) as response:
            return bytes(response.read())

    def keys(self) -> list[str]:
        keys: list[str] = []
        token = ""
        while True:
            query = urllib.parse.urlencode({"pageToken": token} if token else {})
            page = json.loads(self._get(f"{self.endpoint}/storage/v1/b/{self.bucket}/o?{query}"))
            keys.extend(item["name"] for item in page.get("items", ()))
            token = page.get("nextPageToken", "")
            if not token:
                return sorted(keys)

    def get_bytes(self, key: str) -> bytes:
        return self._get(self._url(key) + "?alt=media")

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        boundary = uuid.uuid4().hex
        resource = {"name": key, "contentType": "application/octet-stream", "metadata": metadata or {}}
        body = (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o?uploadType=multipart", data=body, method="POST",
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
        )
        urllib.request.urlopen(request, timeout=60).close()

    def metadata(self, key: str) -> dict[str, str]:
        return dict(json.loads(self._get(self._url(key))).get("metadata") or {})

    def resource(self, key: str) -> dict[str, Any]:
        """The object's JSON resource as the server reports it."""
        return dict(json.loads(self._get(self._url(key))))

    def incomplete_uploads(self) -> int:
        """Temporary components left behind (resumable sessions leave nothing visible)."""
        return sum(TEMP_MARK in key for key in self.keys())
