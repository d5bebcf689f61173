// Invalid free: freeing a pointer into the middle of an object.
// Expect: BUG: KASAN: invalid-free in drop_tail, "Free of addr" 8 bytes into
// a 64-byte object; the free is refused.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static void drop_tail(char *buf) { free(buf + 8); }

int main(void) {
  char *buf = malloc(64);
  buf[0] = 0;
  drop_tail(buf);
  free(buf);
  puts("done");
  return 0;
}
