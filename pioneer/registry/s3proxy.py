"""S3Proxy: a real S3-compatible server for tests and single-host trials, run with the installed Java.

Its jars come from Maven Central (``org.gaul:s3proxy``) the first time and are cached under
``$PIONEER_HOME/cache/s3proxy-<version>/lib``, as the Kafka broker's are. Objects live in a plain directory
(the ``filesystem`` backend), so a restart keeps them.

>>> with S3ProxyServer(data_dir=Path("/tmp/s3"), cache_dir=Path("/tmp/cache")) as server:   # doctest: +SKIP
...     print(server.endpoint)
http://127.0.0.1:9000
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)

S3PROXY_VERSION = "4.1.0"
JACKSON_ANNOTATIONS = "2.22"
"""S3Proxy 4.1.0's own tree resolves jackson-annotations 2.18 (nearest wins), which its Jackson 3 cannot start
with; the version it asks for further down is pinned instead."""

POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.pioneer</groupId>
  <artifactId>pioneer-s3proxy</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>com.fasterxml.jackson.core</groupId>
        <artifactId>jackson-annotations</artifactId>
        <version>{JACKSON_ANNOTATIONS}</version>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.gaul</groupId>
      <artifactId>s3proxy</artifactId>
      <version>{S3PROXY_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


class S3ProxyError(RuntimeError):
    """S3Proxy could not be fetched, started or reached."""


def fetch_s3proxy_jars(cache_dir: Path) -> Path:
    """Download S3Proxy's jars once into ``cache_dir/s3proxy-<version>/lib``; returns that directory.

    The download goes to a temporary directory renamed into place, so an interrupted fetch never leaves a
    half-filled cache that a later start would trust.
    """
    lib = Path(cache_dir) / f"s3proxy-{S3PROXY_VERSION}" / "lib"
    if (lib / ".complete").exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise S3ProxyError("S3Proxy needs Maven (mvn) on PATH to fetch its jars the first time")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="lib-", dir=lib.parent))
    pom = staging / "pom.xml"
    pom.write_text(POM)
    log.info("fetching S3Proxy %s jars from Maven Central into %s", S3PROXY_VERSION, lib)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        capture_output=True,
        text=True,
        check=False,
    )
    pom.unlink()
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise S3ProxyError(f"mvn could not fetch S3Proxy's jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (staging / ".complete").touch()
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    return lib


class S3ProxyServer:
    """One S3Proxy process on loopback with the filesystem backend and AWS v2/v4 signatures.

    Parameters
    ----------
    data_dir
        Where buckets and objects live (one directory per bucket); reused across restarts.
    cache_dir
        Where the jars are cached.
    port
        Listening port (default: a free one).
    access_key, secret_key
        The one identity the server accepts.
    buckets
        Buckets created before the server starts (directories under ``data_dir``).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        cache_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        access_key: str = "pioneer",
        secret_key: str = "pioneer-secret",
        buckets: tuple[str, ...] = ("pioneer",),
        heap: str = "256m",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.cache_dir = Path(cache_dir)
        self.host = host
        self.port = port or _free_port(host)
        self.access_key = access_key
        self.secret_key = secret_key
        self.buckets = buckets
        self.heap = heap
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "s3proxy.log"

    def environment(self) -> dict[str, str]:
        """The AWS variables a client needs to reach this server (as ``aws`` and boto3 read them)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until it answers HTTP; returns the seconds from launch to first answer."""
        if shutil.which("java") is None:
            raise S3ProxyError("S3Proxy needs Java 17+ on PATH")
        lib = fetch_s3proxy_jars(self.cache_dir)
        objects = self.data_dir / "objects"
        for bucket in self.buckets:
            (objects / bucket).mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3proxy.conf"
        config.write_text("\n".join([
            f"s3proxy.endpoint=http://{self.host}:{self.port}",
            "s3proxy.authorization=aws-v2-or-v4",
            f"s3proxy.identity={self.access_key}",
            f"s3proxy.credential={self.secret_key}",
            "jclouds.provider=filesystem",
            f"jclouds.identity={self.access_key}",
            f"jclouds.credential={self.secret_key}",
            f"jclouds.filesystem.basedir={objects}",
            "",
        ]))
        command = ["java", f"-Xmx{self.heap}", "-XX:TieredStopAtLevel=1", "-Dlogback.configurationFile=/dev/null",
                   "-cp", f"{lib}/*", "org.gaul.s3proxy.Main", "--properties", str(config)]
        launched = time.monotonic()
        with open(self.log_file, "ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - launched < timeout:
            if self._process.poll() is not None:
                raise S3ProxyError(f"S3Proxy exited with code {self._process.returncode}; see {self.log_file}")
            if _answers(self.host, self.port):
                return time.monotonic() - launched
            time.sleep(0.2)
        self.stop()
        raise S3ProxyError(f"S3Proxy did not answer on {self.endpoint} within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) != 0:
            return False
        sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        try:
            return sock.recv(12).startswith(b"HTTP/")
        except OSError:
            return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


if __name__ == "__main__":  # python -m pioneer.registry.s3proxy: a server in the foreground (compose, .ci)
    import argparse

    from pioneer.settings import Paths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, default=Paths.from_env().home / "s3proxy")
    parser.add_argument("--bucket", action="append", default=None)
    parser.add_argument("--fetch-only", action="store_true")
    args = parser.parse_args()
    if args.fetch_only:
        print(fetch_s3proxy_jars(Paths.from_env().cache))
        raise SystemExit(0)
    server = S3ProxyServer(data_dir=args.data_dir, cache_dir=Paths.from_env().cache, host=args.host, port=args.port,
                           access_key=os.environ.get("AWS_ACCESS_KEY_ID", "pioneer"),
                           secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "pioneer-secret"),
                           buckets=tuple(args.bucket or ["pioneer"]))
    seconds = server.start()
    print(f"S3Proxy answering on {server.endpoint} after {seconds:.1f}s (objects in {args.data_dir})", flush=True)
    process = server._process
    assert process is not None
    # Forward the stop and let the main thread's wait return (waiting inside the handler would deadlock it).
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        raise SystemExit(process.wait())
    except KeyboardInterrupt:
        server.stop()
