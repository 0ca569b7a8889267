#!/usr/bin/env bash
# Builds the protocol decoder's libFuzzer target with clang (ASan + UBSan) and fuzzes it for a
# bounded time, seeded with valid messages of every kind. Usage: run_decode_fuzz.sh SRC BUILD SECONDS
set -euo pipefail
src=$1 build=$2 seconds=${3:-20}
out="$build/fuzz"
mkdir -p "$out/corpus"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DMSGPACK_NO_BOOST -I"$src/protocol" \
  "$src/tests/fuzz/decode_fuzz.cpp" "$src/protocol/codec.cpp" -o "$out/decode_fuzz"
# Seeds: a well-formed message of each kind, so the fuzzer starts past the header checks.
clang++ -std=c++20 -O1 -DMSGPACK_NO_BOOST -I"$src/protocol" \
  "$src/tests/fuzz/make_seeds.cpp" "$src/protocol/codec.cpp" -o "$out/make_seeds"
"$out/make_seeds" "$out/corpus"
"$out/decode_fuzz" -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
  "$out/corpus" 2>&1 | tail -n 15
