// wordfreq: count the words of a text and print the most frequent ones.
//
//   shadowfence run build/wordfreq.wasm < some.txt
//   shadowfence run build/wordfreq.wasm -- -n 5      (built-in sample text)
//
// A real-size program for shadowfence's guest examples: a tokenizer, a hash
// table with chaining that grows, a small arena for short words, and a sort.
// It has one planted bug, an off-by-one in long_word_copy() that only long
// words reach: the copy gets `len` bytes and the terminator lands one past
// them. Expect: BUG: KASAN: slab-out-of-bounds in long_word_copy, Write of
// size 1, "0 bytes to the right of allocated N-byte region", allocated by
// long_word_copy called from table_add.
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_WORD 16          // words shorter than this live in the entry itself
#define ARENA_CHUNK 4096

struct entry {
  struct entry *next;          // hash chain
  uint32_t hash;
  uint32_t count;
  uint32_t len;
  char *word;                  // points at small[] or at a heap copy
  char small[SHORT_WORD];
};

struct table {
  struct entry **buckets;
  uint32_t nbuckets;           // a power of two
  uint32_t nentries;
  uint64_t words;              // words seen, with repeats
};

// Entries come from a bump arena: many small allocations, freed at once.
struct arena_chunk {
  struct arena_chunk *prev;
  size_t used;
  unsigned char data[ARENA_CHUNK];
};

struct arena {
  struct arena_chunk *top;
  size_t chunks;
};

static void *arena_alloc(struct arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (n > ARENA_CHUNK) return NULL;
  if (!a->top || a->top->used + n > ARENA_CHUNK) {
    struct arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->prev = a->top;
    c->used = 0;
    a->top = c;
    a->chunks++;
  }
  void *p = a->top->data + a->top->used;
  a->top->used += n;
  return p;
}

static void arena_free(struct arena *a) {
  while (a->top) {
    struct arena_chunk *prev = a->top->prev;
    free(a->top);
    a->top = prev;
  }
  a->chunks = 0;
}

// FNV-1a over the lower-cased word
static uint32_t hash_word(const char *w, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)w[i];
    h *= 16777619u;
  }
  return h;
}

static int table_init(struct table *t, uint32_t nbuckets) {
  t->buckets = calloc(nbuckets, sizeof *t->buckets);
  if (!t->buckets) return -1;
  t->nbuckets = nbuckets;
  t->nentries = 0;
  t->words = 0;
  return 0;
}

static int table_grow(struct table *t) {
  uint32_t n = t->nbuckets * 2;
  struct entry **b = calloc(n, sizeof *b);
  if (!b) return -1;
  for (uint32_t i = 0; i < t->nbuckets; i++) {
    struct entry *e = t->buckets[i];
    while (e) {
      struct entry *next = e->next;
      uint32_t k = e->hash & (n - 1);
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
  return 0;
}

// The planted bug: room for the letters, none for the terminator.
__attribute__((noinline)) static char *long_word_copy(const char *w, size_t len) {
  char *copy = malloc(len);
  if (!copy) return NULL;
  memcpy(copy, w, len);
  copy[len] = '\0';
  return copy;
}

static struct entry *table_add(struct table *t, struct arena *a, const char *w, size_t len) {
  uint32_t h = hash_word(w, len);
  struct entry **slot = &t->buckets[h & (t->nbuckets - 1)];
  t->words++;
  for (struct entry *e = *slot; e; e = e->next) {
    if (e->hash == h && e->len == len && memcmp(e->word, w, len) == 0) {
      e->count++;
      return e;
    }
  }
  struct entry *e = arena_alloc(a, sizeof *e);
  if (!e) return NULL;
  e->hash = h;
  e->count = 1;
  e->len = (uint32_t)len;
  if (len < SHORT_WORD) {
    memcpy(e->small, w, len);
    e->small[len] = '\0';
    e->word = e->small;
  } else {
    e->word = long_word_copy(w, len);
    if (!e->word) return NULL;
  }
  e->next = *slot;
  *slot = e;
  t->nentries++;
  if (t->nentries > t->nbuckets * 3 / 4 && table_grow(t) != 0) return NULL;
  return e;
}

static void table_free(struct table *t) {
  for (uint32_t i = 0; i < t->nbuckets; i++)
    for (struct entry *e = t->buckets[i]; e; e = e->next)
      if (e->word != e->small) free(e->word);
  free(t->buckets);
  t->buckets = NULL;
}

// Tokenizer: letters, digits and inner apostrophes/hyphens, lower-cased.
struct tokenizer {
  const char *p, *end;
  char buf[256];
};

static size_t next_word(struct tokenizer *tk) {
  while (tk->p < tk->end && !isalnum((unsigned char)*tk->p)) tk->p++;
  size_t n = 0;
  while (tk->p < tk->end) {
    unsigned char c = (unsigned char)*tk->p;
    int inner = (c == '\'' || c == '-') && tk->p + 1 < tk->end && isalnum((unsigned char)tk->p[1]) && n > 0;
    if (!isalnum(c) && !inner) break;
    if (n < sizeof tk->buf - 1) tk->buf[n++] = (char)tolower(c);
    tk->p++;
  }
  return n;
}

static int by_count(const void *a, const void *b) {
  const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->word, y->word);
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) { free(buf); return NULL; }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  *len = n;
  return buf;
}

static const char SAMPLE[] =
  "It was the best of times, it was the worst of times, it was the age of wisdom, "
  "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
  "incredulity, it was the season of Light, it was the season of Darkness, it was "
  "the spring of hope, it was the winter of despair, we had everything before us, "
  "we had nothing before us, we were all going direct to Heaven, we were all going "
  "direct the other way - in short, the period was so far like the present period, "
  "that some of its noisiest authorities insisted on its being received, for good or "
  "for evil, in the superlative degree of comparison only. Counter-revolutionary "
  "incomprehensibilities notwithstanding, the characteristically uncharacteristic "
  "storytellers kept telling stories.";

int main(int argc, char **argv) {
  int top = 10, use_stdin = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) top = atoi(argv[++i]);
    else if (strcmp(argv[i], "--sample") == 0) use_stdin = 0;
  }
  size_t len = 0;
  char *text = use_stdin ? read_all(stdin, &len) : NULL;
  if (!text || len == 0) {
    free(text);
    len = strlen(SAMPLE);
    text = malloc(len + 1);
    if (!text) return 1;
    strcpy(text, SAMPLE);
  }

  struct table t;
  struct arena a = { 0 };
  if (table_init(&t, 16) != 0) return 1;
  struct tokenizer tk = { .p = text, .end = text + len };
  size_t n;
  while ((n = next_word(&tk)) > 0) {
    if (!table_add(&t, &a, tk.buf, n)) { fprintf(stderr, "out of memory\n"); return 1; }
  }

  struct entry **all = malloc(t.nentries * sizeof *all);
  if (!all) return 1;
  uint32_t k = 0;
  for (uint32_t i = 0; i < t.nbuckets; i++)
    for (struct entry *e = t.buckets[i]; e; e = e->next) all[k++] = e;
  qsort(all, k, sizeof *all, by_count);

  printf("%llu words, %u distinct, %u buckets, %zu arena chunks\n",
         (unsigned long long)t.words, t.nentries, t.nbuckets, a.chunks);
  for (uint32_t i = 0; i < k && (int)i < top; i++) printf("%6u %s\n", all[i]->count, all[i]->word);

  free(all);
  table_free(&t);
  arena_free(&a);
  free(text);
  return 0;
}
