// Global buffer overflow: an index one past a global array.
// Expect: BUG: KASAN: global-out-of-bounds in bump, Write of size 4,
// "The buggy address belongs to the variable: counters+0x28/0x60".
#include <stdio.h>

int counters[10];

__attribute__((noinline)) static void bump(int i) { counters[i]++; }

int main(int argc, char **argv) {
  (void)argv;
  for (int i = 0; i < 10; i++) bump(i);
  bump(9 + argc);                    // 10 when run without arguments
  printf("%d\n", counters[0]);
  return 0;
}
