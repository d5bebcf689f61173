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
static char *kept;
__attribute__((noinline)) void *aligned_buffer(size_t align, size_t n) {
  void *p = 0;
  int rc = posix_memalign(&p, align, n);
  printf("posix_memalign(%zu, %zu) = %d\n", align, n, rc);
  return p;
}
__attribute__((noinline)) void write_aligned(char *p, size_t n) { ((volatile char *)p)[n] = 'y'; }
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
  if (!strcmp(what, "where")) { printf("%p\n", (void *)b); fflush(stdout); write_past_end(b, 16); }
  if (!strcmp(what, "memalign")) {
    char *a = aligned_buffer(64, 40);
    printf("aligned %d\n", (int)((unsigned long)a % 64 == 0));
    aligned_buffer(3, 8);
    write_aligned(a, 40);
    free(a);
  }
  if (!strcmp(what, "leak")) { kept = make_buffer(48); make_buffer(40); }
  if (!strcmp(what, "env")) printf("%s %s\n", getenv("GREETING"), argv[2]);
  if (!strcmp(what, "echo")) { char line[64]; while (fgets(line, sizeof line, stdin)) printf("[%s]", line); printf("\n"); }
  if (!strcmp(what, "file") && argc > 2) {
    FILE *f = fopen(argv[2], "w");
    if (!f) { perror("fopen"); return 3; }
    fprintf(f, "written %d\n", 42);
    fclose(f);
    char got[32] = {0};
    f = fopen(argv[2], "r");
    if (!f || !fgets(got, sizeof got, f)) { perror("read back"); return 4; }
    fclose(f);
    printf("%s", got);
  }
  char *c = calloc(4, 8);
  c = realloc(c, 100);
  free(c);
  printf("%s\n", b);
  free(b);
  return 0;
}
