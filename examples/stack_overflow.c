// Stack buffer overflow: a write one past a local array.
// Expect: BUG: KASAN: stack-out-of-bounds in parse_tag, Write of size 1,
// "belongs to stack of task stack_overflow/100", the frame and its object 'tag'.
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) static int parse_tag(const char *in, int n) {
  char tag[16];
  for (int i = 0; i < n; i++) tag[i] = in[i];     // n may be 17
  return tag[0];
}

int main(int argc, char **argv) {
  (void)argv;
  const char *text = "0123456789abcdefgh";
  printf("%d\n", parse_tag(text, 16 + argc));      // 17 when run without arguments
  return 0;
}
