"""The committed gRPC stubs must be exactly what the .proto files generate (`make proto`)."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
STUB_DIR = ROOT / "src"


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    rc = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{include}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *protos,
        ]
    )
    assert rc == 0
    generated = sorted(tmp_path.rglob("*.py*"))
    assert generated, "protoc produced nothing"
    stale = [
        str(path.relative_to(tmp_path))
        for path in generated
        if path.read_bytes() != (STUB_DIR / path.relative_to(tmp_path)).read_bytes()
    ]
    assert not stale, f"stubs out of date, run `make proto`: {stale}"
