#!/usr/bin/env bash
# run_ssl.sh PATTERN PROGRAM SILENT_MS: makes a self-signed certificate with the openssl
# command (Debian: openssl), then runs PROGRAM CERT KEY SILENT_MS through run_example.sh.
set -euo pipefail
pattern="$1"
program="$2"
silent_ms="$3"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -days 1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
bash "$(dirname "${BASH_SOURCE[0]}")/run_example.sh" "$pattern" "$program" \
  "$dir/cert.pem" "$dir/key.pem" "$silent_ms"
