// KFENCE and guests (test/guest/kfence.test.ts): the first allocation after
// the sampling gate opens is a KFENCE object, on its own page between guard
// pages; a write one page past it lands in the guard page after it.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static void scribble(char *p) { p[4096] = 1; }

int main(void) {
  char *p = malloc(32);
  p[0] = 0;
  scribble(p);
  free(p);
  puts("done");
  return 0;
}
