"""Release the protobuf schema, and check the current protos against the last release.

    python tools/release_protos.py --check        # lint + breaking changes against the snapshot
    python tools/release_protos.py                # the same checks, then write a new snapshot
    python tools/release_protos.py --ref v1.2.0   # snapshot the protos of a tag or commit instead

The snapshot of each released major version lives in protos/released/callscope-vN.binpb: a
FileDescriptorSet with its imports (protoc --descriptor_set_out --include_imports), the form
`buf breaking --against` reads too. Write it when a version is released, never in between:
tests/contracts/test_proto_compat.py compares the working tree against it on every run.

The checks mirror buf's (protos/buf.yaml names the same rule ids), so CI needs no buf binary:
- breaking: buf's WIRE_JSON category plus the deletions it leaves to FILE/PACKAGE (messages,
  enums, services, rpcs, packages) and strict FIELD_SAME_TYPE / FIELD_SAME_CARDINALITY.
  Types are compared by full name, so moving a message to another file of its package is fine.
- lint: buf's BASIC rules that apply to proto3, most of STANDARD and CALLSCOPE_PACKAGE (every
  package is `callscope.vN`). Not SERVICE_SUFFIX, RPC_RESPONSE_STANDARD_NAME nor
  RPC_REQUEST_RESPONSE_UNIQUE: the released services are `Recorder`, `Retention`, `Supervisor`
  and return resources (`LegalHold`, `RecordingRetention`) from several rpcs; renaming them
  would itself break the API.
A breaking change is never released into vN: add callscope/vN+1 instead.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
RELEASED = PROTO_ROOT / "released"
OWN_PREFIX = "callscope/"

FDS = descriptor_pb2.FileDescriptorSet
Field = descriptor_pb2.FieldDescriptorProto
Message = descriptor_pb2.DescriptorProto
Enum = descriptor_pb2.EnumDescriptorProto


@dataclass(frozen=True, order=True)
class Issue:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.where}: {self.message}"


# ---- building descriptor sets ----


def versions() -> list[str]:
    """The major versions in the tree: protos/callscope/v1 -> ["v1"]."""
    return sorted(p.name for p in (PROTO_ROOT / "callscope").iterdir() if p.is_dir())


def snapshot_path(version: str) -> Path:
    return RELEASED / f"callscope-{version}.binpb"


def compile_protos(
    version: str = "v1", *, source_info: bool = False, proto_root: Path = PROTO_ROOT
) -> FDS:
    """Compile <proto_root>/callscope/<version>/*.proto with the bundled protoc, with imports."""
    protos = sorted((proto_root / "callscope" / version).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {proto_root}/callscope/{version}")
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = [
            "protoc",
            f"-I{proto_root}",
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            *(["--include_source_info"] if source_info else []),
            *[str(p.relative_to(proto_root)) for p in protos],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return FDS.FromString(out.read_bytes())


def compile_protos_at(ref: str, version: str = "v1") -> FDS:
    """Compile the protos as they are in a git tag or commit (read with `git show`)."""
    folder = f"protos/callscope/{version}/"

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path in git("ls-tree", "--name-only", f"{ref}:{folder}").split():
            if path.endswith(".proto"):
                target = root / "callscope" / version / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(git("show", f"{ref}:{folder}{path}"))
        return compile_protos(version, proto_root=root)


def load_snapshot(path: Path) -> FDS:
    return FDS.FromString(path.read_bytes())


def own_files(fds: FDS) -> list[descriptor_pb2.FileDescriptorProto]:
    """The project's files; imports such as google/protobuf/timestamp.proto are not checked."""
    return [f for f in fds.file if f.name.startswith(OWN_PREFIX)]


# ---- walking a descriptor set ----


def _messages(prefix: str, messages: list[Message]) -> Iterator[tuple[str, Message]]:
    for message in messages:
        name = f"{prefix}.{message.name}"
        yield name, message
        yield from _messages(name, list(message.nested_type))


def _enums(prefix: str, enums, messages) -> Iterator[tuple[str, Enum]]:
    for enum in enums:
        yield f"{prefix}.{enum.name}", enum
    for message in messages:
        yield from _enums(f"{prefix}.{message.name}", message.enum_type, message.nested_type)


@dataclass
class Index:
    packages: set[str]
    files: dict[str, descriptor_pb2.FileDescriptorProto]
    messages: dict[str, Message]
    enums: dict[str, Enum]
    services: dict[str, descriptor_pb2.ServiceDescriptorProto]

    @classmethod
    def of(cls, fds: FDS) -> Index:
        index = cls(set(), {}, {}, {}, {})
        for file in own_files(fds):
            index.packages.add(file.package)
            index.files[file.name] = file
            index.messages.update(_messages(file.package, list(file.message_type)))
            index.enums.update(_enums(file.package, file.enum_type, file.message_type))
            for service in file.service:
                index.services[f"{file.package}.{service.name}"] = service
        return index


def _label(field: Field) -> str:
    if field.label == Field.LABEL_REPEATED:
        return "repeated"
    if field.label == Field.LABEL_REQUIRED:
        return "required"
    return "optional" if field.proto3_optional else "implicit"


def _type(field: Field) -> str:
    if field.type in (Field.TYPE_MESSAGE, Field.TYPE_ENUM, Field.TYPE_GROUP):
        return field.type_name.lstrip(".")
    return Field.Type.Name(field.type).removeprefix("TYPE_").lower()


def _oneof(message: Message, field: Field) -> str | None:
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return message.oneof_decl[field.oneof_index].name


def _in_ranges(number: int, ranges, *, end_inclusive: bool) -> bool:
    return any(
        r.start <= number <= r.end if end_inclusive else r.start <= number < r.end for r in ranges
    )


# ---- breaking changes ----


def breaking_changes(old: FDS, new: FDS) -> list[Issue]:
    """What in `new` breaks wire or JSON compatibility with `old`, or deletes a public name."""
    before, after = Index.of(old), Index.of(new)
    issues: list[Issue] = []

    def report(rule: str, where: str, message: str) -> None:
        issues.append(Issue(rule, where, message))

    for package in sorted(before.packages - after.packages):
        report("PACKAGE_NO_DELETE", package, "package deleted (renamed?)")
    for name, file in before.files.items():
        if name in after.files:
            if after.files[name].package != file.package:
                report(
                    "FILE_SAME_PACKAGE",
                    name,
                    f"package changed from {file.package} to {after.files[name].package}",
                )
            if after.files[name].syntax != file.syntax:
                report("FILE_SAME_SYNTAX", name, "syntax changed")

    for name in sorted(before.messages.keys() - after.messages.keys()):
        report("PACKAGE_MESSAGE_NO_DELETE", name, "message deleted")
    for name in sorted(before.enums.keys() - after.enums.keys()):
        report("PACKAGE_ENUM_NO_DELETE", name, "enum deleted")
    for name in sorted(before.services.keys() - after.services.keys()):
        report("PACKAGE_SERVICE_NO_DELETE", name, "service deleted")

    for name in sorted(before.messages.keys() & after.messages.keys()):
        _compare_messages(name, before.messages[name], after.messages[name], report)
    for name in sorted(before.enums.keys() & after.enums.keys()):
        _compare_enums(name, before.enums[name], after.enums[name], report)
    for name in sorted(before.services.keys() & after.services.keys()):
        _compare_services(name, before.services[name], after.services[name], report)
    return sorted(issues)


def _compare_messages(name: str, old: Message, new: Message, report) -> None:
    new_fields = {f.number: f for f in new.field}
    for field in old.field:
        where = f"{name}.{field.name}"
        now = new_fields.get(field.number)
        if now is None:
            if not _in_ranges(field.number, new.reserved_range, end_inclusive=False):
                report(
                    "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    where,
                    f"field {field.number} deleted without reserving its number",
                )
            if field.name not in new.reserved_name:
                report(
                    "FIELD_NO_DELETE_UNLESS_NAME_RESERVED",
                    where,
                    f"field {field.number} deleted without reserving the name {field.name!r}",
                )
            continue
        if now.name != field.name:
            report(
                "FIELD_SAME_NAME",
                where,
                f"field {field.number} renamed from {field.name!r} to {now.name!r}",
            )
        if now.json_name != field.json_name:
            report(
                "FIELD_SAME_JSON_NAME",
                where,
                f"field {field.number} JSON name changed from {field.json_name!r} "
                f"to {now.json_name!r}",
            )
        if _type(now) != _type(field):
            report(
                "FIELD_SAME_TYPE",
                where,
                f"field {field.number} changed type from {_type(field)} to {_type(now)}",
            )
        if _label(now) != _label(field):
            report(
                "FIELD_SAME_CARDINALITY",
                where,
                f"field {field.number} changed cardinality from {_label(field)} to {_label(now)}",
            )
        if _oneof(new, now) != _oneof(old, field):
            report(
                "FIELD_SAME_ONEOF",
                where,
                f"field {field.number} moved from oneof {_oneof(old, field)} to {_oneof(new, now)}",
            )
        if now.default_value != field.default_value:
            report("FIELD_SAME_DEFAULT", where, "default value changed")
    for r in old.reserved_range:
        if not all(
            _in_ranges(n, new.reserved_range, end_inclusive=False) for n in range(r.start, r.end)
        ):
            report(
                "RESERVED_MESSAGE_NO_DELETE", name, f"reserved range {r.start}-{r.end - 1} removed"
            )
    for reserved in sorted(set(old.reserved_name) - set(new.reserved_name)):
        report("RESERVED_MESSAGE_NO_DELETE", name, f"reserved name {reserved!r} removed")


def _compare_enums(name: str, old: Enum, new: Enum, report) -> None:
    new_values: dict[int, set[str]] = {}
    for value in new.value:
        new_values.setdefault(value.number, set()).add(value.name)
    for value in old.value:
        where = f"{name}.{value.name}"
        now = new_values.get(value.number)
        if now is None:
            if not _in_ranges(value.number, new.reserved_range, end_inclusive=True):
                report(
                    "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED",
                    where,
                    f"enum value {value.number} deleted without reserving its number",
                )
            if value.name not in new.reserved_name:
                report(
                    "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED",
                    where,
                    f"enum value {value.number} deleted without reserving the name",
                )
        elif value.name not in now:
            report(
                "ENUM_VALUE_SAME_NAME",
                where,
                f"enum value {value.number} renamed from {value.name} to {sorted(now)[0]}",
            )
    for r in old.reserved_range:
        if not all(
            _in_ranges(n, new.reserved_range, end_inclusive=True) for n in range(r.start, r.end + 1)
        ):
            report("RESERVED_ENUM_NO_DELETE", name, f"reserved range {r.start}-{r.end} removed")
    for reserved in sorted(set(old.reserved_name) - set(new.reserved_name)):
        report("RESERVED_ENUM_NO_DELETE", name, f"reserved name {reserved!r} removed")


def _compare_services(name: str, old, new, report) -> None:
    methods = {m.name: m for m in new.method}
    for method in old.method:
        where = f"{name}.{method.name}"
        now = methods.get(method.name)
        if now is None:
            report("RPC_NO_DELETE", where, "rpc deleted")
            continue
        for rule, attribute in (
            ("RPC_SAME_REQUEST_TYPE", "input_type"),
            ("RPC_SAME_RESPONSE_TYPE", "output_type"),
            ("RPC_SAME_CLIENT_STREAMING", "client_streaming"),
            ("RPC_SAME_SERVER_STREAMING", "server_streaming"),
        ):
            was, is_now = getattr(method, attribute), getattr(now, attribute)
            if was != is_now:
                report(rule, where, f"{attribute} changed from {was} to {is_now}")
        if method.options.idempotency_level != now.options.idempotency_level:
            report("RPC_SAME_IDEMPOTENCY_LEVEL", where, "idempotency_level changed")


# ---- lint ----

PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
VERSION = re.compile(r"^v\d+((alpha|beta)\d*)?$")
CALLSCOPE_PACKAGE = re.compile(r"^callscope\.v\d+$")


def upper_snake(pascal: str) -> str:
    """`TranscriptSegment` -> `TRANSCRIPT_SEGMENT`, `HTTPServer` -> `HTTP_SERVER`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", pascal)
    return spaced.upper()


def lint(fds: FDS) -> list[Issue]:
    issues: list[Issue] = []

    def report(rule: str, where: str, message: str) -> None:
        issues.append(Issue(rule, where, message))

    defined: dict[str, set[str]] = {}  # file -> the full names it defines
    for file in fds.file:
        names = {n for n, _ in _messages(file.package, list(file.message_type))}
        names |= {n for n, _ in _enums(file.package, file.enum_type, file.message_type)}
        defined[file.name] = names

    for file in own_files(fds):
        _lint_file(file, defined, report)
    return sorted(issues)


def _lint_file(file, defined, report) -> None:
    name, package = file.name, file.package
    if not package:
        report("PACKAGE_DEFINED", name, "no package")
    else:
        if not VERSION.match(package.rsplit(".", 1)[-1]):
            report("PACKAGE_VERSION_SUFFIX", name, f"package {package} has no version suffix")
        if not CALLSCOPE_PACKAGE.match(package):
            report("CALLSCOPE_PACKAGE", name, f"package {package} is not callscope.vN")
        if not all(LOWER_SNAKE.match(part) for part in package.split(".")):
            report("PACKAGE_LOWER_SNAKE_CASE", name, f"package {package}")
        if name.rsplit("/", 1)[0] != package.replace(".", "/"):
            report("PACKAGE_DIRECTORY_MATCH", name, f"package {package} in another directory")
    if file.syntax not in ("proto3", "editions"):
        report("SYNTAX_SPECIFIED", name, "syntax is not proto3 (proto2 is the default)")
    if not LOWER_SNAKE.match(name.rsplit("/", 1)[-1].removesuffix(".proto")):
        report("FILE_LOWER_SNAKE_CASE", name, "file name is not lower_snake_case")
    if file.public_dependency:
        report("IMPORT_NO_PUBLIC", name, "public import")

    used: set[str] = set()  # the full names this file refers to
    for full, message in _messages(package, list(file.message_type)):
        used |= {f.type_name.lstrip(".") for f in message.field if f.type_name}
        if message.options.map_entry:
            continue
        if not PASCAL.match(message.name):
            report("MESSAGE_PASCAL_CASE", full, "message name is not PascalCase")
        for field in message.field:
            if not LOWER_SNAKE.match(field.name):
                report("FIELD_LOWER_SNAKE_CASE", f"{full}.{field.name}", "not lower_snake_case")
            if field.label == Field.LABEL_REQUIRED:
                report("FIELD_NOT_REQUIRED", f"{full}.{field.name}", "required field")
        for oneof in message.oneof_decl:
            if not oneof.name.startswith("_") and not LOWER_SNAKE.match(oneof.name):
                report("ONEOF_LOWER_SNAKE_CASE", f"{full}.{oneof.name}", "not lower_snake_case")

    for full, enum in _enums(package, file.enum_type, file.message_type):
        _lint_enum(full, enum, report)

    for service in file.service:
        full = f"{package}.{service.name}"
        if not PASCAL.match(service.name):
            report("SERVICE_PASCAL_CASE", full, "service name is not PascalCase")
        for method in service.method:
            rpc = f"{full}.{method.name}"
            used |= {method.input_type.lstrip("."), method.output_type.lstrip(".")}
            if not PASCAL.match(method.name):
                report("RPC_PASCAL_CASE", rpc, "rpc name is not PascalCase")
            request = method.input_type.rsplit(".", 1)[-1]
            if request not in (f"{method.name}Request", f"{service.name}{method.name}Request"):
                report("RPC_REQUEST_STANDARD_NAME", rpc, f"request type {request}")

    for dependency in file.dependency:
        if not defined.get(dependency, set()) & used:
            report("IMPORT_USED", name, f"{dependency} is imported but not used")


def _lint_enum(full: str, enum: Enum, report) -> None:
    if not PASCAL.match(enum.name):
        report("ENUM_PASCAL_CASE", full, "enum name is not PascalCase")
    if enum.options.allow_alias:
        report("ENUM_NO_ALLOW_ALIAS", full, "allow_alias is set")
    prefix = upper_snake(enum.name) + "_"
    for value in enum.value:
        where = f"{full}.{value.name}"
        if not UPPER_SNAKE.match(value.name):
            report("ENUM_VALUE_UPPER_SNAKE_CASE", where, "not UPPER_SNAKE_CASE")
        if not value.name.startswith(prefix):
            report("ENUM_VALUE_PREFIX", where, f"not prefixed with {prefix}")
    if not enum.value or enum.value[0].number != 0:
        report("ENUM_FIRST_VALUE_ZERO", full, "the first value is not 0")
    else:
        zero = enum.value[0].name
        if zero != f"{prefix}UNSPECIFIED":
            report("ENUM_ZERO_VALUE_SUFFIX", f"{full}.{zero}", f"want {prefix}UNSPECIFIED")


# ---- releasing ----


def check(version: str, current: FDS | None = None) -> list[Issue]:
    """Lint the current protos and compare them with the snapshot of `version`, if there is one."""
    current = current if current is not None else compile_protos(version)
    issues = lint(current)
    snapshot = snapshot_path(version)
    if snapshot.exists():
        issues += breaking_changes(load_snapshot(snapshot), current)
    return issues


def release(version: str, out: Path | None = None, current: FDS | None = None) -> Path:
    """Write the snapshot of `version` (the working tree's protos unless `current` is given);
    refuses while the checks against the previous snapshot report anything."""
    current = current if current is not None else compile_protos(version)
    issues = check(version, current)
    if issues:
        raise SystemExit(
            "not released: fix these first (a breaking change goes into a new major version):\n"
            + "\n".join(f"  {issue}" for issue in issues)
        )
    target = out or snapshot_path(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(current.SerializeToString(deterministic=True))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    parser.add_argument("--version", choices=versions(), help="one major version (default: all)")
    parser.add_argument("--ref", help="release the protos of this git tag or commit")
    args = parser.parse_args(argv)
    failed = False
    for version in [args.version] if args.version else versions():
        if args.check:
            issues = check(version)
            for issue in issues:
                print(f"{version}: {issue}")
            failed |= bool(issues)
            if not issues:
                against = snapshot_path(version)
                since = (
                    f"no breaking change since {against.relative_to(ROOT)}"
                    if against.exists()
                    else "no release snapshot yet"
                )
                print(f"{version}: lint clean, {since}")
        else:
            current = compile_protos_at(args.ref, version) if args.ref else None
            print(f"released {release(version, current=current).relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
