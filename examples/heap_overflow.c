// Heap buffer overflow: one byte written past a 13-byte allocation.
// Expect: BUG: KASAN: slab-out-of-bounds in fill_name, Write of size 1,
// "located 0 bytes to the right of allocated 13-byte region", cache kmalloc-16.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static void fill_name(char *name, int len) {
  for (int i = 0; i <= len; i++)      // <= : one past the end
    name[i] = 'a' + i;
}

int main(void) {
  char *name = malloc(13);
  fill_name(name, 13);
  printf("%.13s\n", name);
  free(name);
  return 0;
}
