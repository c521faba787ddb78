"""The protos against the last release (protos/released/*.binpb), buf-style, without buf.

tools/release_protos.py holds the checker: breaking changes (buf's WIRE_JSON rules plus no
deleted or retyped public names) and lint. The negative tests below change a copy of the
current descriptors in memory and assert the checker reports it, so it cannot silently pass;
when a buf binary is available the same copies go through `buf breaking` / `buf lint` with
protos/buf.yaml, which must agree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2

REPO = Path(__file__).resolve().parents[2]
FDS = descriptor_pb2.FileDescriptorSet
Field = descriptor_pb2.FieldDescriptorProto


@pytest.fixture(scope="module")
def current(release_protos: ModuleType) -> FDS:
    return release_protos.compile_protos("v1")


@pytest.fixture(scope="module")
def released(release_protos: ModuleType) -> FDS:
    path = release_protos.snapshot_path("v1")
    assert path.is_file(), f"{path} is missing: run tools/release_protos.py --ref <release tag>"
    return release_protos.load_snapshot(path)


# ---- the real protos ----


def test_snapshot_is_a_descriptor_set_with_imports(released: FDS) -> None:
    names = {f.name for f in released.file}
    assert "google/protobuf/timestamp.proto" in names, "written without --include_imports?"
    assert {"callscope/v1/events.proto", "callscope/v1/common.proto"} <= names
    assert {f.package for f in released.file if f.name.startswith("callscope/")} == {"callscope.v1"}


def test_no_breaking_change_since_the_release(
    release_protos: ModuleType, released: FDS, current: FDS
) -> None:
    issues = release_protos.breaking_changes(released, current)
    assert not issues, "breaking changes since the last release (add callscope.v2 instead):\n" + (
        "\n".join(map(str, issues))
    )


def test_protos_lint_clean(release_protos: ModuleType, current: FDS) -> None:
    issues = release_protos.lint(current)
    assert not issues, "\n".join(map(str, issues))


def test_what_is_committed_is_compatible_too(release_protos: ModuleType, released: FDS) -> None:
    """Also runs the `--ref` path that snapshots a tag or commit (read-only git)."""
    if not (shutil.which("git") and (REPO / ".git").exists()):
        pytest.skip("not a git checkout")
    at_head = release_protos.compile_protos_at("HEAD")
    assert "callscope/v1/events.proto" in {f.name for f in at_head.file}
    assert release_protos.breaking_changes(released, at_head) == []


def test_check_command() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "release_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "v1: lint clean, no breaking change since" in done.stdout


# ---- in-memory changes: (what to do, the rules that must fire; empty: compatible) ----


def _messages(prefix: str, messages) -> list[tuple[str, descriptor_pb2.DescriptorProto]]:
    found = []
    for message in messages:
        name = f"{prefix}.{message.name}"
        found += [(name, message), *_messages(name, message.nested_type)]
    return found


def find_message(fds: FDS, full_name: str) -> descriptor_pb2.DescriptorProto:
    for file in fds.file:
        for name, message in _messages(file.package, file.message_type):
            if name == full_name:
                return message
    raise KeyError(full_name)


def find_enum(fds: FDS, full_name: str) -> descriptor_pb2.EnumDescriptorProto:
    for file in fds.file:
        for enum in file.enum_type:
            if f"{file.package}.{enum.name}" == full_name:
                return enum
        for message in file.message_type:
            for enum in message.enum_type:
                if f"{file.package}.{message.name}.{enum.name}" == full_name:
                    return enum
    raise KeyError(full_name)


def find_field(fds: FDS, message: str, name: str) -> Field:
    return next(f for f in find_message(fds, message).field if f.name == name)


def find_file(fds: FDS, name: str) -> descriptor_pb2.FileDescriptorProto:
    return next(f for f in fds.file if f.name == name)


def find_method(fds: FDS, service: str, name: str) -> descriptor_pb2.MethodDescriptorProto:
    for file in fds.file:
        for candidate in file.service:
            if f"{file.package}.{candidate.name}" == service:
                return next(m for m in candidate.method if m.name == name)
    raise KeyError(service)


def remove(container, predicate) -> None:
    index = next(i for i, item in enumerate(container) if predicate(item))
    del container[index]


def change_field_type(fds: FDS) -> None:
    find_field(fds, "callscope.v1.AudioSegment", "seq").type = Field.TYPE_INT32


def change_field_message_type(fds: FDS) -> None:
    field = find_field(fds, "callscope.v1.CallSummary", "customer_sentiment")
    field.type_name = ".callscope.v1.Word"


def remove_field(fds: FDS) -> None:
    remove(find_message(fds, "callscope.v1.AudioSegment").field, lambda f: f.name == "codec")


def remove_field_reserving_only_the_number(fds: FDS) -> None:
    message = find_message(fds, "callscope.v1.AudioSegment")
    remove(message.field, lambda f: f.name == "codec")
    message.reserved_range.add(start=7, end=8)


def remove_field_reserving_number_and_name(fds: FDS) -> None:
    message = find_message(fds, "callscope.v1.AudioSegment")
    remove(message.field, lambda f: f.name == "codec")
    message.reserved_range.add(start=7, end=8)
    message.reserved_name.append("codec")


def rename_field(fds: FDS) -> None:
    field = find_field(fds, "callscope.v1.CallStarted", "queue")
    field.name, field.json_name = "queue_name", "queueName"


def reuse_field_number(fds: FDS) -> None:
    message = find_message(fds, "callscope.v1.AudioSegment")
    remove(message.field, lambda f: f.name == "seq")
    message.field.add(
        name="sequence_label",
        number=4,
        type=Field.TYPE_STRING,
        label=Field.LABEL_OPTIONAL,
        json_name="sequenceLabel",
    )


def make_field_repeated(fds: FDS) -> None:
    find_field(fds, "callscope.v1.TranscriptSegment", "text").label = Field.LABEL_REPEATED


def move_field_into_oneof(fds: FDS) -> None:
    message = find_message(fds, "callscope.v1.StreamCallResponse")
    message.oneof_decl.add(name="result")
    find_field(fds, "callscope.v1.StreamCallResponse", "object_key").oneof_index = 0


def change_json_name(fds: FDS) -> None:
    find_field(fds, "callscope.v1.CallStarted", "agent_id").json_name = "agent"


def remove_message(fds: FDS) -> None:
    file = find_file(fds, "callscope/v1/events.proto")
    remove(file.message_type, lambda m: m.name == "RecordingPaused")


def remove_enum_value(fds: FDS) -> None:
    remove(find_enum(fds, "callscope.v1.Channel").value, lambda v: v.name == "CHANNEL_AGENT")


def rename_enum_value(fds: FDS) -> None:
    enum = find_enum(fds, "callscope.v1.SupervisorAlert.Severity")
    next(v for v in enum.value if v.number == 3).name = "SEVERITY_FATAL"


def set_package(fds: FDS, file_name: str, package: str) -> None:
    """Move a file to another package, and every reference to its types with it."""
    file = find_file(fds, file_name)
    defined = {name for name, _ in _messages(file.package, file.message_type)}
    defined |= {
        f"{name}.{e.name}"
        for name, m in _messages(file.package, file.message_type)
        for e in m.enum_type
    }
    defined |= {f"{file.package}.{e.name}" for e in file.enum_type}
    moved = {f".{name}": f".{package}{name[len(file.package) :]}" for name in defined}
    file.package = package
    for other in fds.file:
        for _, message in _messages(other.package, other.message_type):
            for field in message.field:
                field.type_name = moved.get(field.type_name, field.type_name)
        for service in other.service:
            for method in service.method:
                method.input_type = moved.get(method.input_type, method.input_type)
                method.output_type = moved.get(method.output_type, method.output_type)


def rename_package(fds: FDS) -> None:
    for file in list(fds.file):
        if file.package == "callscope.v1":
            set_package(fds, file.name, "callscope.v2")


def remove_rpc(fds: FDS) -> None:
    service = next(s for f in fds.file for s in f.service if s.name == "Recorder")
    remove(service.method, lambda m: m.name == "SetRecording")


def change_rpc_response(fds: FDS) -> None:
    find_method(
        fds, "callscope.v1.Recorder", "GetRecording"
    ).output_type = ".callscope.v1.SetRecordingResponse"


def change_rpc_request(fds: FDS) -> None:
    find_method(
        fds, "callscope.v1.Supervisor", "WatchCall"
    ).input_type = ".callscope.v1.GetCallAnalysisRequest"


def change_rpc_streaming(fds: FDS) -> None:
    find_method(fds, "callscope.v1.Recorder", "StreamCall").client_streaming = False


def add_field(fds: FDS) -> None:
    find_message(fds, "callscope.v1.AudioSegment").field.add(
        name="gain_db",
        number=99,
        type=Field.TYPE_FLOAT,
        label=Field.LABEL_OPTIONAL,
        json_name="gainDb",
    )


def add_message_and_enum_value(fds: FDS) -> None:
    find_file(fds, "callscope/v1/events.proto").message_type.add(name="CallTransferred")
    find_enum(fds, "callscope.v1.Channel").value.add(name="CHANNEL_MONITOR", number=3)


def add_rpc(fds: FDS) -> None:
    service = next(s for f in fds.file for s in f.service if s.name == "Recorder")
    service.method.add(
        name="GetRecordingTwice",
        input_type=".callscope.v1.GetRecordingRequest",
        output_type=".callscope.v1.GetRecordingResponse",
    )


def reserve_on_old_side(fds: FDS) -> None:
    message = find_message(fds, "callscope.v1.AudioSegment")
    message.reserved_range.add(start=90, end=100)
    message.reserved_name.append("legacy")


BREAKING: list[tuple[Callable[[FDS], None], set[str]]] = [
    (change_field_type, {"FIELD_SAME_TYPE"}),
    (change_field_message_type, {"FIELD_SAME_TYPE"}),
    (remove_field, {"FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"}),
    (remove_field_reserving_only_the_number, {"FIELD_NO_DELETE_UNLESS_NAME_RESERVED"}),
    (rename_field, {"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"}),
    (reuse_field_number, {"FIELD_SAME_NAME", "FIELD_SAME_TYPE"}),
    (make_field_repeated, {"FIELD_SAME_CARDINALITY"}),
    (move_field_into_oneof, {"FIELD_SAME_ONEOF"}),
    (change_json_name, {"FIELD_SAME_JSON_NAME"}),
    (remove_message, {"PACKAGE_MESSAGE_NO_DELETE"}),
    (remove_enum_value, {"ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"}),
    (rename_enum_value, {"ENUM_VALUE_SAME_NAME"}),
    (rename_package, {"PACKAGE_NO_DELETE", "FILE_SAME_PACKAGE", "PACKAGE_MESSAGE_NO_DELETE"}),
    (remove_rpc, {"RPC_NO_DELETE"}),
    (change_rpc_response, {"RPC_SAME_RESPONSE_TYPE"}),
    (change_rpc_request, {"RPC_SAME_REQUEST_TYPE"}),
    (change_rpc_streaming, {"RPC_SAME_CLIENT_STREAMING"}),
]  # fmt: skip
COMPATIBLE: list[Callable[[FDS], None]] = [
    add_field,
    add_message_and_enum_value,
    add_rpc,
    remove_field_reserving_number_and_name,
]


def changed(current: FDS, mutate: Callable[[FDS], None]) -> FDS:
    copy = FDS()
    copy.CopyFrom(current)
    mutate(copy)
    return copy


def rules(issues) -> set[str]:
    return {issue.rule for issue in issues}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=m.__name__) for m, e in BREAKING],
)
def test_breaking_change_is_reported(
    release_protos: ModuleType, current: FDS, mutate: Callable[[FDS], None], expected: set[str]
) -> None:
    issues = release_protos.breaking_changes(current, changed(current, mutate))
    assert expected <= rules(issues), "\n".join(map(str, issues)) or "nothing reported"


@pytest.mark.parametrize("mutate", [pytest.param(m, id=m.__name__) for m in COMPATIBLE])
def test_compatible_change_is_accepted(
    release_protos: ModuleType, current: FDS, mutate: Callable[[FDS], None]
) -> None:
    assert release_protos.breaking_changes(current, changed(current, mutate)) == []


def test_dropping_a_reservation_is_reported(release_protos: ModuleType, current: FDS) -> None:
    old = changed(current, reserve_on_old_side)
    issues = release_protos.breaking_changes(old, current)
    assert len([i for i in issues if i.rule == "RESERVED_MESSAGE_NO_DELETE"]) == 2, issues


def test_release_refuses_a_breaking_change(
    release_protos: ModuleType, current: FDS, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="FIELD_SAME_TYPE"):
        release_protos.release("v1", tmp_path / "out.binpb", changed(current, change_field_type))
    assert not (tmp_path / "out.binpb").exists()
    target = release_protos.release("v1", tmp_path / "out.binpb", changed(current, add_field))
    assert FDS.FromString(target.read_bytes()) == changed(current, add_field)


# ---- lint: in-memory changes that break a naming rule ----


def unversioned_package(fds: FDS) -> None:
    set_package(fds, "callscope/v1/common.proto", "callscope")


def other_package(fds: FDS) -> None:
    set_package(fds, "callscope/v1/common.proto", "telephony.v1")


def enum_zero_not_unspecified(fds: FDS) -> None:
    find_enum(fds, "callscope.v1.Channel").value[0].name = "CHANNEL_NONE"


def enum_value_without_prefix(fds: FDS) -> None:
    find_enum(fds, "callscope.v1.Channel").value[1].name = "CUSTOMER"


def camel_case_field(fds: FDS) -> None:
    find_field(fds, "callscope.v1.CallStarted", "agent_id").name = "agentId"


def snake_case_message(fds: FDS) -> None:
    find_message(fds, "callscope.v1.RecordingPaused").name = "recording_paused"  # unreferenced


def lower_case_rpc(fds: FDS) -> None:
    find_method(fds, "callscope.v1.Recorder", "GetRecording").name = "getRecording"


def nonstandard_request_name(fds: FDS) -> None:
    method = find_method(fds, "callscope.v1.Supervisor", "WatchCall")
    method.input_type = ".callscope.v1.GetCallAnalysisRequest"


LINT: list[tuple[Callable[[FDS], None], set[str]]] = [
    (unversioned_package, {"PACKAGE_VERSION_SUFFIX", "CALLSCOPE_PACKAGE",
                           "PACKAGE_DIRECTORY_MATCH"}),
    (other_package, {"CALLSCOPE_PACKAGE", "PACKAGE_DIRECTORY_MATCH"}),
    (enum_zero_not_unspecified, {"ENUM_ZERO_VALUE_SUFFIX"}),
    (enum_value_without_prefix, {"ENUM_VALUE_PREFIX"}),
    (camel_case_field, {"FIELD_LOWER_SNAKE_CASE"}),
    (snake_case_message, {"MESSAGE_PASCAL_CASE"}),
    (lower_case_rpc, {"RPC_PASCAL_CASE"}),
    (nonstandard_request_name, {"RPC_REQUEST_STANDARD_NAME"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=m.__name__) for m, e in LINT]
)
def test_lint_violation_is_reported(
    release_protos: ModuleType, current: FDS, mutate: Callable[[FDS], None], expected: set[str]
) -> None:
    issues = release_protos.lint(changed(current, mutate))
    assert expected <= rules(issues), "\n".join(map(str, issues)) or "nothing reported"


def test_upper_snake(release_protos: ModuleType) -> None:
    assert release_protos.upper_snake("TranscriptSegment") == "TRANSCRIPT_SEGMENT"
    assert release_protos.upper_snake("Kind") == "KIND"
    assert release_protos.upper_snake("HTTPServer") == "HTTP_SERVER"


# ---- buf, when it is installed: the same verdicts ----


def run_buf(buf: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([buf, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_buf_lint(buf: str) -> None:
    done = run_buf(buf, "lint", "protos")
    assert done.returncode == 0, done.stdout + done.stderr


def test_buf_breaking_against_the_release(buf: str, release_protos: ModuleType) -> None:
    against = release_protos.snapshot_path("v1").relative_to(REPO)
    done = run_buf(buf, "breaking", "protos", "--against", str(against))
    assert done.returncode == 0, done.stdout + done.stderr


def test_buf_agrees_with_the_checker(buf: str, current: FDS, tmp_path: Path) -> None:
    """Every in-memory change above gets the same verdict from buf with protos/buf.yaml."""
    config = str(REPO / "protos" / "buf.yaml")
    base = tmp_path / "base.binpb"
    base.write_bytes(current.SerializeToString())
    lint_only_ours = ("--config", config, "--path", "callscope")  # not google/protobuf/*
    clean = run_buf(buf, "lint", str(base), *lint_only_ours)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    cases: list[tuple[str, list[str], int]] = []  # (name, buf arguments, the exit code wanted)
    for kind, mutations, wanted in (
        ("breaking", [m for m, _ in BREAKING], 100),  # 100: buf found issues
        ("breaking", COMPATIBLE, 0),
        ("lint", [m for m, _ in LINT], 100),
    ):
        for mutate in mutations:
            image = tmp_path / f"{kind}_{mutate.__name__}.binpb"
            image.write_bytes(changed(current, mutate).SerializeToString())
            args = (
                ["breaking", str(image), "--against", str(base), "--config", config]
                if kind == "breaking"
                else ["lint", str(image), *lint_only_ours]
            )
            cases.append((f"{kind} {mutate.__name__}", args, wanted))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda case: run_buf(buf, *case[1]), cases))
    disagreements = [
        f"{name}: buf exit {done.returncode}, want {wanted}: {done.stdout}{done.stderr}"
        for (name, _, wanted), done in zip(cases, results, strict=True)
        if done.returncode != wanted
    ]
    assert disagreements == []
