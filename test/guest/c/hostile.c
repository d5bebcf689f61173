// A hostile guest for test/guest/hostile.test.ts: every command aims a
// checked access, a free, a shadow write or a syscall at an address the test
// picked (often the engine's own tables). Usage: hostile <cmd> <hex addr> [n]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

void __asan_set_shadow_00(uintptr_t shadow, size_t n);
void __asan_set_shadow_f8(uintptr_t shadow, size_t n);
void __asan_register_globals(uintptr_t globals, size_t n);

__attribute__((noinline)) static void poke(volatile uint32_t *p) { *p = 0xdeadbeef; }
__attribute__((noinline)) static uint32_t peek(volatile uint32_t *p) { return *p; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: hostile <cmd> <hex addr> [n]\n"); return 2; }
  const char *cmd = argv[1];
  uintptr_t a = (uintptr_t)strtoul(argv[2], NULL, 16);
  size_t n = argc > 3 ? strtoul(argv[3], NULL, 0) : 64;
  if (!strcmp(cmd, "write")) poke((uint32_t *)a);
  else if (!strcmp(cmd, "read")) printf("%u\n", peek((uint32_t *)a));
  else if (!strcmp(cmd, "sweep")) {
    // walk up from a, a page at a time, writing: must stop at the first forbidden page
    for (uintptr_t p = a; p < a + n * 4096; p += 4096) poke((uint32_t *)p);
  }
  else if (!strcmp(cmd, "free")) free((void *)a);
  else if (!strcmp(cmd, "realloc")) printf("%p\n", realloc((void *)a, n));
  else if (!strcmp(cmd, "memset")) memset((void *)a, 0x5a, n);
  else if (!strcmp(cmd, "memcpy")) { char src[64] = { 1 }; memcpy((void *)a, src, n < 64 ? n : 64); }
  else if (!strcmp(cmd, "strcpy")) strcpy((char *)a, "hostile string");
  else if (!strcmp(cmd, "shadow")) { __asan_set_shadow_00((a >> 3) + 0x20000000, n); __asan_set_shadow_f8((a >> 3) + 0x20000000, n); }
  else if (!strcmp(cmd, "globals")) __asan_register_globals(a, n);
  else if (!strcmp(cmd, "clock")) printf("errno %d\n", __wasi_clock_time_get(0, 1, (__wasi_timestamp_t *)a));
  else if (!strcmp(cmd, "read_fd")) {
    __wasi_iovec_t iov = { (uint8_t *)a, n };
    size_t got = 0;
    printf("errno %d\n", __wasi_fd_read(0, &iov, 1, &got));
  }
  else if (!strcmp(cmd, "uaf_scribble")) {
    // use-after-free writes over what the allocator keeps inside freed objects
    // (quarantine links, free tracks, SLUB freelist pointers), then enough
    // allocation to make it follow them
    static char *objs[2048], *keep[32];
    for (int i = 0; i < 512; i++) objs[i] = malloc(32);
    // every 16th stays allocated, so no slab empties and goes back to the buddy
    for (int i = 0; i < 512; i++) {
      if (i % 16) free(objs[i]);
      else keep[i / 16] = objs[i];
    }
    // word stores: KASAN reports each one and it happens (a memset would be skipped)
    for (int i = 0; i < 96; i++)
      if (i % 16)
        for (int w = 0; w < 4; w++) ((volatile uint64_t *)objs[i])[w] = 0xa5a5a5a5a5a5a5a5ull + (uint64_t)w;
    // drain every kmalloc-32 freelist, then churn other sizes through the quarantine
    for (int round = 0; round < 8; round++) {
      int count = round == 0 ? 2048 : 512;
      for (int i = 0; i < count; i++) objs[i] = malloc(32 + (size_t)round * 512);
      for (int i = 0; i < count; i++) free(objs[i]);
    }
    for (int i = 0; i < 32; i++) free(keep[i]);
  }
  else if (!strcmp(cmd, "heap")) {
    // legitimate work after the attacks: the engine's heap still serves us
    char *p = malloc(n);
    memset(p, 1, n);
    free(p);
    puts("heap ok");
    return 0;
  }
  else { fprintf(stderr, "unknown command %s\n", cmd); return 2; }
  puts("survived");
  return 0;
}
