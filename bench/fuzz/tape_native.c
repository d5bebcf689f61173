// The fuzz benchmark's native baseline (bench/fuzz.ts): runs a shadowfence
// op tape (docs/notes/fuzz.md) with libc's allocator, so the same operation
// mix can be timed built plain (gcc -O2) and with AddressSanitizer
// (gcc -O2 -fsanitize=address). kmalloc/kzalloc/kmem_cache_alloc/vmalloc map
// to malloc/calloc, kfree/vfree to free, krealloc to realloc; loads, stores,
// memset and memcpy are the program's own accesses, which ASan instruments.
// Ticks and task switches do nothing here. Planted ops are skipped (ASan
// would stop at the first).
//
//   tape_native <tape> [reps]  -> "ops=<n> ns_per_op=<x> checksum=<hex>"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  KMALLOC = 1, KZALLOC, CACHE_ALLOC, KFREE, KFREE_AT, KREALLOC, VMALLOC, VFREE,
  LOAD1, LOAD2, LOAD4, LOAD8, LOAD16, STORE1, STORE2, STORE4, STORE8, STORE16, MEMSET, MEMCPY, TICK, TASK,
};
static const uint8_t op_len[] = {0, 9, 9, 6, 5, 9, 9, 9, 5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 14, 19, 5, 3};

typedef uint16_t __attribute__((may_alias)) u16a;
typedef uint32_t __attribute__((may_alias)) u32a;
typedef uint64_t __attribute__((may_alias)) u64a;

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline int32_t rds32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

static uint8_t **slot_ptr;
static uint32_t cache_size[16];
static uint64_t checksum;

__attribute__((noinline)) static void run(const uint8_t *body, size_t len) {
  uint32_t op = 0;
  for (size_t p = 0; p < len; p += op_len[body[p] & 0x7f], op++) {
    const uint8_t *q = body + p;
    unsigned code = q[0] & 0x7f;
    if (q[0] & 0x80) continue;                 /* planted */
    if (code == TICK || code == TASK) continue;
    unsigned slot = rd16(q + 3);
    uint8_t *s = slot_ptr[slot];
    uint64_t v = (uint64_t)(op + 1) * 0x9e3779b97f4a7c15ull;
    switch (code) {
      case KMALLOC: case VMALLOC: slot_ptr[slot] = malloc(rd32(q + 5)); break;
      case KZALLOC: slot_ptr[slot] = calloc(1, rd32(q + 5)); break;
      case CACHE_ALLOC: slot_ptr[slot] = malloc(cache_size[q[5] & 15]); break;
      case KFREE: case VFREE: free(s); slot_ptr[slot] = NULL; break;
      case KREALLOC: slot_ptr[slot] = realloc(s, rd32(q + 5)); break;
      case LOAD1: checksum += *(volatile uint8_t *)(s + rds32(q + 5)); break;
      case LOAD2: checksum += *(volatile u16a *)(s + rds32(q + 5)); break;
      case LOAD4: checksum += *(volatile u32a *)(s + rds32(q + 5)); break;
      case LOAD8: checksum += *(volatile u64a *)(s + rds32(q + 5)); break;
      case LOAD16: checksum += ((volatile u64a *)(s + rds32(q + 5)))[0] ^ ((volatile u64a *)(s + rds32(q + 5)))[1]; break;
      case STORE1: *(volatile uint8_t *)(s + rds32(q + 5)) = (uint8_t)v; break;
      case STORE2: *(volatile u16a *)(s + rds32(q + 5)) = (uint16_t)v; break;
      case STORE4: *(volatile u32a *)(s + rds32(q + 5)) = (uint32_t)v; break;
      case STORE8: *(volatile u64a *)(s + rds32(q + 5)) = v; break;
      case STORE16: ((volatile u64a *)(s + rds32(q + 5)))[0] = v; ((volatile u64a *)(s + rds32(q + 5)))[1] = ~v; break;
      case MEMSET: memset(s + rds32(q + 5), q[13], rd32(q + 9)); break;
      case MEMCPY: memmove(s + rds32(q + 5), slot_ptr[rd16(q + 9)] + rds32(q + 11), rd32(q + 15)); break;
      default: break;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s <tape> [reps]\n", argv[0]); return 2; }
  int reps = argc > 2 ? atoi(argv[2]) : 1;
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *file = malloc((size_t)n);
  if (!file || fread(file, 1, (size_t)n, f) != (size_t)n || n < 48 || memcmp(file, "SFTAPE\0\1", 8) != 0) {
    fprintf(stderr, "%s: not a version 1 shadowfence tape\n", argv[1]);
    return 2;
  }
  fclose(f);
  uint32_t header_bytes = rd32(file + 8), ops = rd32(file + 12), body_bytes = rd32(file + 16), slots = rd32(file + 24);
  uint16_t ncaches = rd16(file + 32);
  /* tables: cmdline (u16 len), profile (u8 len), caches (3 x u32 + u8 len + name) */
  const uint8_t *t = file + 48;
  t += 2 + rd16(t);
  t += 1 + t[0];
  for (unsigned i = 0; i < ncaches && i < 16; i++) { cache_size[i] = rd32(t); t += 12; t += 1 + t[0]; }
  slot_ptr = calloc(slots, sizeof *slot_ptr);
  const uint8_t *body = file + header_bytes;
  struct timespec a, b;
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    clock_gettime(CLOCK_MONOTONIC, &a);
    run(body, body_bytes);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    if (ns < best) best = ns;
    for (uint32_t s = 0; s < slots; s++) { free(slot_ptr[s]); slot_ptr[s] = NULL; }
  }
  printf("ops=%u ns_per_op=%.2f checksum=%016llx\n", ops, best / ops, (unsigned long long)checksum);
  free(slot_ptr);
  free(file);
  return 0;
}
