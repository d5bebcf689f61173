// Use after free: a pointer kept after the object was freed.
// Expect: BUG: KASAN: slab-use-after-free in report_session, Read of size 4,
// Allocated by ... new_session, Freed by ... end_session, freed 24-byte region.
#include <stdio.h>
#include <stdlib.h>

struct session { int id; int refs; long long started; int flags; };

__attribute__((noinline)) static struct session *new_session(int id) {
  struct session *s = malloc(sizeof *s);
  s->id = id;
  s->refs = 1;
  s->started = 42;
  s->flags = 0;
  return s;
}

__attribute__((noinline)) static void end_session(struct session *s) { free(s); }

__attribute__((noinline)) static int report_session(const struct session *s) { return s->refs; }

int main(void) {
  struct session *s = new_session(7);
  end_session(s);
  printf("refs=%d\n", report_session(s));   // s is gone
  return 0;
}
