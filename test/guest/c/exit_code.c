// Exit codes: `exit_code N` returns N from main, `exit_code exit N` calls exit(N),
// `exit_code abort` traps (abort()).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "exit")) { printf("exit(%s)\n", argv[2]); exit(atoi(argv[2])); }
  if (argc > 1 && !strcmp(argv[1], "abort")) abort();
  if (argc > 1 && !strcmp(argv[1], "env")) { const char *v = getenv("GREETING"); printf("%s\n", v ? v : "(none)"); return 0; }
  if (argc > 1 && !strcmp(argv[1], "stdin")) { char buf[64] = {0}; fgets(buf, sizeof buf, stdin); printf("read:%s", buf); return 0; }
  if (argc > 1 && !strcmp(argv[1], "deep")) {
    // recursion: the shadow call stack keeps the innermost frames of a deep stack
    extern int deep(int);
    return deep(atoi(argv[2])) == 0 ? 0 : 1;
  }
  return argc > 1 ? atoi(argv[1]) : 0;
}

__attribute__((noinline)) int deep(int n) {
  if (n == 0) { char *p = malloc(8); p[8] = 1; free(p); return 0; }
  return deep(n - 1) + (n & 0);
}
