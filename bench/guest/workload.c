// The guest benchmark's workload (bench/guest.ts): a seeded loop of ~10%
// mallocs of 8..4096 bytes, ~10% frees and ~80% 1-8 byte loads and stores
// inside live objects, ending with a checksum. The same source is built
// natively (gcc -O2, gcc -O2 -fsanitize=address) and as a shadowfence guest;
// all builds must print the same checksum.
//
//   workload [ops] [seed]   -> "checksum=<hex> ops=<n> ns_per_op=<x>"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096
#define BATCH 10000

typedef uint16_t __attribute__((may_alias)) u16a;
typedef uint32_t __attribute__((may_alias)) u32a;
typedef uint64_t __attribute__((may_alias)) u64a;

static uint64_t rng;
static unsigned char *slot_ptr[SLOTS];
static uint32_t slot_size[SLOTS];
static uint32_t live[SLOTS], live_pos[SLOTS], nlive;
static uint64_t checksum;

static inline uint64_t rnd(void) {     // xorshift64*
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1DULL;
}

static void slot_free(uint32_t s) {
  free(slot_ptr[s]);
  slot_ptr[s] = NULL;
  uint32_t at = live_pos[s], last = live[--nlive];
  live[at] = last;
  live_pos[last] = at;
}

static void slot_alloc(uint32_t s, uint32_t size) {
  if (slot_ptr[s]) slot_free(s);
  unsigned char *p = malloc(size);
  if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
  memset(p, (int)(s & 0xff), size);
  slot_ptr[s] = p;
  slot_size[s] = size;
  live_pos[s] = nlive;
  live[nlive++] = s;
}

// A function per batch, so JIT tiers see it called again and again.
__attribute__((noinline)) static void run_batch(uint32_t ops) {
  for (uint32_t i = 0; i < ops; i++) {
    uint64_t r = rnd();
    uint32_t kind = (uint32_t)(r % 100);
    if (kind < 10 || nlive == 0) {
      slot_alloc((uint32_t)((r >> 8) % SLOTS), 8 + (uint32_t)((r >> 24) % 4089));
    } else if (kind < 20) {
      uint32_t s = (uint32_t)((r >> 8) % SLOTS);
      if (slot_ptr[s]) slot_free(s);
    } else {
      uint32_t s = live[(uint32_t)((r >> 8) % nlive)];
      unsigned char *p = slot_ptr[s];
      uint32_t w = 1u << ((r >> 40) & 3);
      uint32_t off = (uint32_t)((r >> 20) % (slot_size[s] - w + 1)) & ~(w - 1);
      uint64_t v;
      if ((r >> 43) & 1) {
        switch (w) {
          case 1: p[off] = (unsigned char)r; break;
          case 2: *(u16a *)(p + off) = (uint16_t)r; break;
          case 4: *(u32a *)(p + off) = (uint32_t)r; break;
          default: *(u64a *)(p + off) = r; break;
        }
      } else {
        switch (w) {
          case 1: v = p[off]; break;
          case 2: v = *(u16a *)(p + off); break;
          case 4: v = *(u32a *)(p + off); break;
          default: v = *(u64a *)(p + off); break;
        }
        checksum = checksum * 31 + v;
      }
    }
  }
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  uint32_t ops = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 2000000;
  rng = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9E3779B97F4A7C15ULL;
  if (rng == 0) rng = 1;
  uint64_t t0 = now_ns();
  for (uint32_t done = 0; done < ops; done += BATCH) run_batch(ops - done < BATCH ? ops - done : BATCH);
  uint64_t t1 = now_ns();
  while (nlive) slot_free(live[nlive - 1]);
  printf("checksum=%016llx ops=%u ns_per_op=%.2f\n", (unsigned long long)checksum, ops, (double)(t1 - t0) / ops);
  return 0;
}
