// Leak scan cases, selected by argv[1]: planted leaks, and objects reachable
// from a global, the stack, another object (through an interior pointer).
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; char payload[24]; };

static struct node *list_head;          // a root in .bss
static char *middle_of_buffer;          // interior pointer into an object

__attribute__((noinline)) static void *leak_session(size_t n) {
  char *p = malloc(n);
  memset(p, 'S', n);
  return p;
}

__attribute__((noinline)) static void drop_session(void) {
  char *p = leak_session(40);
  p[0] = 'L';
  p = 0;                                // the only pointer is gone
}

__attribute__((noinline)) static void build_list(int n) {
  for (int i = 0; i < n; i++) {
    struct node *e = malloc(sizeof *e);
    e->next = list_head;
    strcpy(e->payload, "listed");
    list_head = e;
  }
  middle_of_buffer = (char *)malloc(100) + 50;
}

__attribute__((noinline)) static int use_on_stack(void) {
  volatile struct node *held = malloc(sizeof(struct node));   // live in this frame during the scan? no: scanned at exit
  held->payload[0] = 'x';
  return held->payload[0];
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "clean";
  build_list(3);
  if (!strcmp(what, "leak")) {
    drop_session();
    drop_session();
  }
  if (!strcmp(what, "freed")) {
    free(leak_session(16));
  }
  if (!strcmp(what, "stack")) {
    // exit() from inside a frame that holds the only pointer: the live stack is a root
    struct node *volatile held = malloc(sizeof(struct node));
    held->payload[0] = 'h';
    exit(held->payload[0] == 'h' ? 0 : 1);
  }
  (void)use_on_stack;
  return 0;
}
