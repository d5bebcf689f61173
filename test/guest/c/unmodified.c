// A program built by plain clang (no -fsanitize, wasi-libc's own malloc):
// argv[1] picks the planted bug; without one it runs clean.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) char *make_buffer(size_t n) { return malloc(n); }
__attribute__((noinline)) void write_past_end(char *p, size_t n) { p[n] = 'x'; }
__attribute__((noinline)) int read_after_free(void) {
  char *p = make_buffer(32);
  strcpy(p, "freed");
  free(p);
  return p[4];
}
__attribute__((noinline)) void free_twice(void) {
  char *p = make_buffer(24);
  free(p);
  free(p);
}

static char not_heap[32];
__attribute__((noinline)) void free_global(void) { free(not_heap + 8); }
__attribute__((noinline)) int read_null(int *volatile p) { return *p; }

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "clean";
  char *b = make_buffer(16);
  strcpy(b, "ok");
  if (!strcmp(what, "overflow")) write_past_end(b, 16);
  if (!strcmp(what, "uaf")) printf("%d\n", read_after_free());
  if (!strcmp(what, "double")) free_twice();
  if (!strcmp(what, "invalid")) free_global();
  if (!strcmp(what, "null")) printf("%d\n", read_null(0));
  char *c = calloc(4, 8);
  c = realloc(c, 100);
  free(c);
  printf("%s\n", b);
  free(b);
  return 0;
}
