// Reads a freed object argv[1] times: one use-after-free report each.
#include <stdlib.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  volatile char *p = malloc(32);
  free((void *)p);
  int sum = 0;
  for (int i = 0; i < n; i++) sum += p[i % 32];
  return sum & 1;
}
