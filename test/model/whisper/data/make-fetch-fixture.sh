#!/usr/bin/env bash
# Regenerates sherpa-onnx-whisper-tiny.en.tar.bz2 in this directory: a few-hundred-byte stand-in for
# the sherpa-onnx release archive, laid out like the real one (one top directory
# sherpa-onnx-whisper-tiny.en/ holding the int8 and float32 models, the tokens file and test_wavs/),
# for test/model/whisper/fetch.test.ts. The contents are short marker strings, not models: the
# test checks that exactly the three files the backend needs are installed, byte for byte.
#
# Tools: GNU tar and bzip2. Deterministic: sorted names, fixed mtime and owner.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

D="$TMP/sherpa-onnx-whisper-tiny.en"
mkdir -p "$D/test_wavs"
printf 'int8 encoder \x00\x01\x02\xff\n' > "$D/tiny.en-encoder.int8.onnx"
printf 'int8 decoder \x00\xfe\x80\n' > "$D/tiny.en-decoder.int8.onnx"
printf 'IQ== 0\nIg== 1\n' > "$D/tiny.en-tokens.txt"
# Present in the real archive, not needed by the backend: must not be installed.
printf 'float32 encoder\n' > "$D/tiny.en-encoder.onnx"
printf 'float32 decoder\n' > "$D/tiny.en-decoder.onnx"
printf 'test wav\n' > "$D/test_wavs/0.wav"
printf 'export script\n' > "$D/export-onnx.py"

tar -C "$TMP" --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner \
  -cf "$TMP/archive.tar" sherpa-onnx-whisper-tiny.en
bzip2 -9 -c "$TMP/archive.tar" > "$HERE/sherpa-onnx-whisper-tiny.en.tar.bz2"
echo "wrote $HERE/sherpa-onnx-whisper-tiny.en.tar.bz2"
