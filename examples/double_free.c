// Double free: the same object freed twice.
// Expect: BUG: KASAN: double-free in release_buffer, "Free of addr", both the
// allocation and the first free in the report; the second free is refused.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static void release_buffer(char *b) { free(b); }

int main(void) {
  char *b = malloc(100);
  b[0] = 'x';
  release_buffer(b);
  release_buffer(b);
  puts("done");
  return 0;
}
