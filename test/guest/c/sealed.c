// A guest for test/guest/sealed.test.ts: bugs inside uninstrumented code
// (wasi-libc), which only the load-time rewriter's checks can see.
// Usage: sealed <cmd>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "sprintf")) {
    // a 3 MB write into a 16-byte object, by printf's internals
    char *p = malloc(16);
    sprintf(p, "%0*d", 3000000, 7);
    printf("done %c\n", p[0]);
  } else if (!strcmp(cmd, "strlen")) {
    // word-at-a-time reads past the terminator are no bug (read_word_at_a_time)
    char *p = malloc(5);
    memcpy(p, "abcd", 5);
    printf("len %zu\n", strlen(p));
    free(p);
  } else if (!strcmp(cmd, "memalign") && argc > 2) {
    // the shim's posix_memalign stores the pointer through `out`: aimed at the engine's tables
    void **out = (void **)(uintptr_t)strtoul(argv[2], NULL, 16);
    printf("rc %d\n", posix_memalign(out, 16, 32));
  } else if (!strcmp(cmd, "spin")) {
    volatile unsigned long n = 0;
    for (;;) n++;
  } else {
    printf("clean\n");
  }
  return 0;
}
