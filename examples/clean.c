// A clean program: heap, globals, stack, strings. Expect: no report, exit 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int squares[16];

int main(int argc, char **argv) {
  char local[32];
  for (int i = 0; i < 16; i++) squares[i] = i * i;
  char *a = malloc(40);
  strcpy(a, "shadowfence");
  strcat(a, " guest");
  char *b = realloc(a, 100);
  memset(local, 0, sizeof local);
  snprintf(local, sizeof local, "%s:%d", b, squares[argc + 2]);
  int *c = calloc(8, sizeof(int));
  c[7] = (int)strlen(local);
  printf("%s %d\n", local, c[7]);
  free(b);
  free(c);
  return 0;
}
