// Micro-operations for bench/guest.ts: `micro loads N` times N 4-byte loads
// over a 4 KiB object; `micro mallocs N` times N malloc(32)+free pairs made
// five calls deep; `micro loop N` times N iterations of a one-multiply loop
// (not unrolled: each iteration passes the loop head, where a guest spends
// fuel). Prints "ns_per_op=<x> sink=<n>".
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// k makes every call different work, so no compiler merges the calls
__attribute__((noinline)) static uint32_t loads(const volatile uint32_t *p, uint32_t n, uint32_t k) {
  uint32_t s = 0;
  for (uint32_t i = 0; i < n; i++) s += p[((i + k) * 7) & 1023];
  return s;
}

__attribute__((noinline)) static uint32_t spin(uint32_t n, uint32_t k) {
  uint32_t s = k;
#pragma clang loop unroll(disable) vectorize(disable)
  for (uint32_t i = 0; i < n; i++) s = s * 2654435761u + i;
  return s;
}

__attribute__((noinline)) static uint32_t pair(void) {
  char *p = malloc(32);
  p[0] = 1;
  uint32_t v = (uint32_t)(uintptr_t)p & 0xff;
  free(p);
  return v;
}
__attribute__((noinline)) static uint32_t d3(uint32_t n) { uint32_t s = 0; for (uint32_t i = 0; i < n; i++) s += pair(); return s; }
__attribute__((noinline)) static uint32_t d2(uint32_t n) { return d3(n); }
__attribute__((noinline)) static uint32_t d1(uint32_t n) { return d2(n); }

int main(int argc, char **argv) {
  uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000;
  uint64_t t0, t1;
  uint32_t sink = 0;
  if (argc > 1 && !strcmp(argv[1], "mallocs")) {
    sink += d1(n / 10);                  // warm up
    t0 = now_ns();
    for (uint32_t k = 0; k < 10; k++) sink += d1(n / 10);
    t1 = now_ns();
  } else if (argc > 1 && !strcmp(argv[1], "loop")) {
    sink += spin(n / 10, 99);
    t0 = now_ns();
    for (uint32_t k = 0; k < 10; k++) sink += spin(n / 10, k);
    t1 = now_ns();
  } else {
    uint32_t *buf = malloc(4096);
    memset(buf, 1, 4096);
    sink += loads(buf, n / 10, 99);
    t0 = now_ns();
    for (uint32_t k = 0; k < 10; k++) sink += loads(buf, n / 10, k);
    t1 = now_ns();
    free(buf);
  }
  printf("ns_per_op=%.2f sink=%u\n", (double)(t1 - t0) / n, sink);
  return 0;
}
