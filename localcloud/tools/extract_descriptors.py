"""Write the protobuf descriptors of the Kubernetes API types the emulator decodes, taken from a kubectl binary.

Go clients (kubectl among them) send built-in objects as protobuf. The generated Go code of
k8s.io/api and k8s.io/apimachinery embeds each generated.proto as a gzipped FileDescriptorProto;
this script finds them in a kubectl binary and writes the stable (v1) API groups with what they
import as one gzipped FileDescriptorSet. Usage: extract_descriptors.py KUBECTL_BINARY OUTPUT
"""

from __future__ import annotations

import gzip
import re
import sys
import zlib

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

WANTED = re.compile(r"^k8s\.io/(api/[a-z]+/v1|apimachinery/pkg/.+)/generated\.proto$")


def embedded_files(binary: bytes) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    files = {}
    for match in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", binary):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(binary[match.start() : match.start() + 2_000_000])
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except (zlib.error, DecodeError):  # most gzip-looking bytes are not descriptors
            continue
        if proto.name.endswith("generated.proto"):
            files[proto.name] = proto
    for proto in files.values():  # gogo.proto only lends options the emulator does not read
        kept = [dep for dep in proto.dependency if dep in files]
        del proto.dependency[:]
        proto.dependency.extend(kept)
    return files


def main(binary_path: str, output: str) -> None:
    with open(binary_path, "rb") as binary:
        files = embedded_files(binary.read())
    chosen: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [name for name in files if WANTED.match(name)]
    while pending:
        name = pending.pop()
        if name not in chosen:
            chosen[name] = files[name]
            pending += [dep for dep in files[name].dependency if dep not in chosen]
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    while len(ordered) < len(chosen):  # dependencies first, so a pool can add them in order
        done = {f.name for f in ordered}
        ordered += [f for n, f in sorted(chosen.items()) if n not in done and set(f.dependency) <= done]
    with gzip.open(output, "wb") as out:
        out.write(descriptor_pb2.FileDescriptorSet(file=ordered).SerializeToString())
    print(f"{len(ordered)} files: {', '.join(f.name for f in ordered)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
