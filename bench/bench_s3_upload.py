"""Benchmark uploading a 1 GB file to S3: rendercli's `publish` against boto3's own
`upload_file`, on the same server.

The server is moto's (`moto_server`, a real S3 HTTP API) in a process of its own on
127.0.0.1, so the uploader and the server do not share an interpreter. The file is
random bytes (incompressible). A first, untimed round of a 100 MB file warms up both
clients and the server; then each round uploads the file once each way (which goes
first alternates), to a new key, deleted after; the best of the rounds counts. Both
clients use the same settings (rendercli's: checksums when required, path-style
addressing).

- **publish**: `S3Store.publish` (HEAD, then a create-only multipart upload: 8 MiB
  parts, 8 at a time, `If-None-Match: *` on completion);
- **upload_file**: `client.upload_file` with boto3's default TransferConfig (8 MiB
  parts, 10 threads), unconditional.

Prints both rates in MB/s and their ratio (the issue's bar: publish >= 0.8x).

Run: .venv/bin/python bench/bench_s3_upload.py [--size-mb 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import start_moto_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 16 * 1024 * 1024))
            digest.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)

    from rendercli.config import read_settings
    from rendercli.objectstore import local_path, object_name, open_store

    proc, url = start_moto_process()
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    try:
        settings = read_settings({"RENDERCLI_STORAGE_URL": "s3://bench/farm",
                                  "RENDERCLI_S3_ENDPOINT_URL": url,
                                  "RENDERCLI_STORAGE_DIR": str(work / "storage"),
                                  "RENDERCLI_DATA_DIR": str(work / "data")})
        store = open_store(settings)
        client = store.bucket.client  # type: ignore[attr-defined]
        client.create_bucket(Bucket="bench")
        size = args.size_mb * 1000 * 1000
        sha = make_file(work / "big", size)
        name = object_name(sha)
        path = local_path(work / "storage", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        (work / "big").rename(path)
        def run_publish(round_: int, file: Path, file_name: str) -> float:
            started = time.perf_counter()
            sent = store.publish(file_name, file)
            took = time.perf_counter() - started
            assert sent == file.stat().st_size, sent
            client.delete_object(Bucket="bench", Key=f"farm/{file_name}")
            return took

        def run_upload_file(round_: int, file: Path, _name: str) -> float:
            key = f"farm/plain-{round_}"
            started = time.perf_counter()
            client.upload_file(str(file), "bench", key)
            took = time.perf_counter() - started
            client.delete_object(Bucket="bench", Key=key)
            return took

        warm = work / "warm"
        warm_name = object_name(make_file(warm, 100 * 1000 * 1000))
        warm_path = local_path(work / "storage", warm_name)
        warm_path.parent.mkdir(parents=True, exist_ok=True)
        warm.rename(warm_path)
        run_publish(-1, warm_path, warm_name)
        run_upload_file(-1, warm_path, warm_name)
        runs = {"publish": run_publish, "upload_file": run_upload_file}
        best = {"publish": float("inf"), "upload_file": float("inf")}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for which in order:
                best[which] = min(best[which], runs[which](round_, path, name))
        rate = {k: size / 1e6 / v for k, v in best.items()}
        print(f"file: {size / 1e6:.0f} MB, best of {args.rounds} rounds, moto_server on "
              "127.0.0.1")
        for k in ("publish", "upload_file"):
            print(f"{k:>12}: {best[k]:6.2f} s  {rate[k]:7.1f} MB/s")
        print(f"ratio publish / upload_file: {rate['publish'] / rate['upload_file']:.2f}x "
              "(bar: >= 0.8x)")
    finally:
        proc.terminate()
        proc.wait(10)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
