// kmemleak bench guest: argv[1] live objects in a list rooted in .bss, one in
// ten of them also allocated and dropped (leaked).
#include <stdlib.h>
struct node { struct node *next; int value[6]; };
static struct node *head;
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  for (int i = 0; i < n; i++) {
    struct node *e = malloc(sizeof *e);
    e->next = head;
    e->value[0] = i;
    head = e;
    if (i % 10 == 0) malloc(24);
  }
  return 0;
}
