// Heap buffer underflow: reading the element before the start of an array.
// Expect: BUG: KASAN: slab-out-of-bounds in sum_window, Read of size 4,
// the report placing the address left of the object (cache kmalloc-64).
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static int sum_window(const int *v, int from, int to) {
  int s = 0;
  for (int i = from; i < to; i++) s += v[i];
  return s;
}

int main(int argc, char **argv) {
  (void)argv;
  int *keep = malloc(16 * sizeof(int));      // a neighbour in the same slab
  int *v = malloc(16 * sizeof(int));
  for (int i = 0; i < 16; i++) v[i] = keep[i] = i;
  int from = argc - 2;                         // -1 when run without arguments
  printf("%d\n", sum_window(v, from, 4));
  free(v);
  free(keep);
  return 0;
}
