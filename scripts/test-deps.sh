#!/bin/sh
# What `npm test` needs besides Node and npm (npm runs this first, as pretest):
# clang-16 and lld-16 with wasi-libc and the wasm32 builtins for the C guests,
# Debian's rustc with the wasm32-wasi std for the Rust guest, chromium for the
# browser test, gcc for the native benchmarks' tests, redis-server (and openssl
# for its TLS test) for fuzz campaigns. Missing
# ones are installed with apt-get, as root or through sudo.
set -eu

need=""
command -v clang-16 >/dev/null 2>&1 || need="$need clang-16"
command -v wasm-ld-16 >/dev/null 2>&1 || need="$need lld-16"
[ -f /usr/include/wasm32-wasi/stdio.h ] || need="$need wasi-libc"
[ -f /usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a ] || need="$need libclang-rt-16-dev-wasm32"
# Debian's rustc and its wasm32-wasi std, for the unmodified Rust guest test
[ -x /usr/bin/rustc ] || need="$need rustc"
ls /usr/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib >/dev/null 2>&1 || need="$need libstd-rust-dev-wasm32"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -z "$need" ] && exit 0
need=${need# }

if [ "$(id -u)" -eq 0 ]; then
  run=""
elif command -v sudo >/dev/null 2>&1; then
  run="sudo"
else
  echo "npm test needs $need, which are missing: install them as root (apt-get install $need) or run it with sudo available" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "npm test needs: $need (no apt-get here: install them with your system's package manager)" >&2
  exit 1
fi
echo "npm test: installing $need"
$run apt-get update -qq
$run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
