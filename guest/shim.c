/*
 * shadowfence guest shim: linked (uninstrumented) into every guest by
 * `shadowfence cc`. The C heap is the engine's: with
 * --wrap=malloc,free,calloc,realloc,... every allocation is a kmalloc in the
 * simulated kernel, so KASAN and KFENCE watch it, and wasi-libc's own malloc
 * is not linked at all.
 *
 * wasi-libc is not instrumented, so the string functions a program hands its
 * buffers to are wrapped too: they check the ranges they will touch before
 * calling the real ones, as compiler-rt's interceptors do. With the kernel
 * ABI (-fsanitize=kernel-address, SHADOWFENCE_KERNEL_ABI) clang calls plain
 * memcpy/memset/memmove, so those are wrapped as well.
 *
 * Functions named __wrap_* and __shadowfence_* are left out of the guest's
 * call stacks: a report names the function that called malloc or strcpy.
 */
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#define ENGINE(name) __attribute__((import_module("env"), import_name(#name)))

ENGINE(guest_kmalloc) void *guest_kmalloc(size_t size);
ENGINE(guest_kcalloc) void *guest_kcalloc(size_t n, size_t size);
ENGINE(guest_kfree) void guest_kfree(void *p);
ENGINE(guest_krealloc) void *guest_krealloc(void *p, size_t size);
ENGINE(guest_ksize) size_t guest_ksize(void *p);
ENGINE(guest_kmalloc_aligned) void *guest_kmalloc_aligned(size_t align, size_t size);
ENGINE(guest_check_range) int guest_check_range(const void *p, size_t n, int write);

/* ── the heap ─────────────────────────────────────────────────────────── */
void *__wrap_malloc(size_t n) { return guest_kmalloc(n); }
void __wrap_free(void *p) { guest_kfree(p); }
void *__wrap_calloc(size_t n, size_t size) { return guest_kcalloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return guest_krealloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return guest_kmalloc_aligned(align, n); }
size_t __wrap_malloc_usable_size(void *p) { return guest_ksize(p); }
int __wrap_posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  void *p = guest_kmalloc_aligned(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void *__wrap___libc_malloc(size_t n) { return guest_kmalloc(n); }
void __wrap___libc_free(void *p) { guest_kfree(p); }
void *__wrap___libc_calloc(size_t n, size_t size) { return guest_kcalloc(n, size); }

/* ── string interceptors ──────────────────────────────────────────────── */
size_t __real_strlen(const char *s);
size_t __real_strnlen(const char *s, size_t max);
char *__real_strcpy(char *d, const char *s);
char *__real_strncpy(char *d, const char *s, size_t n);
char *__real_strcat(char *d, const char *s);
char *__real_strncat(char *d, const char *s, size_t n);

size_t __wrap_strlen(const char *s) {
  size_t n = __real_strlen(s);
  guest_check_range(s, n + 1, 0);
  return n;
}
size_t __wrap_strnlen(const char *s, size_t max) {
  size_t n = __real_strnlen(s, max);
  guest_check_range(s, n < max ? n + 1 : n, 0);
  return n;
}
char *__wrap_strcpy(char *d, const char *s) {
  size_t n = __real_strlen(s);
  guest_check_range(s, n + 1, 0);
  guest_check_range(d, n + 1, 1);
  return __real_strcpy(d, s);
}
char *__wrap_strncpy(char *d, const char *s, size_t n) {
  size_t m = __real_strnlen(s, n);
  guest_check_range(s, m < n ? m + 1 : m, 0);
  guest_check_range(d, n, 1);
  return __real_strncpy(d, s, n);
}
char *__wrap_strcat(char *d, const char *s) {
  size_t dl = __real_strlen(d), sl = __real_strlen(s);
  guest_check_range(s, sl + 1, 0);
  guest_check_range(d, dl + sl + 1, 1);
  return __real_strcat(d, s);
}
char *__wrap_strncat(char *d, const char *s, size_t n) {
  size_t dl = __real_strlen(d), sl = __real_strnlen(s, n);
  guest_check_range(s, sl < n ? sl + 1 : sl, 0);
  guest_check_range(d, dl + sl + 1, 1);
  return __real_strncat(d, s, n);
}

#ifdef SHADOWFENCE_KERNEL_ABI
void *__real_memcpy(void *d, const void *s, size_t n);
void *__real_memmove(void *d, const void *s, size_t n);
void *__real_memset(void *d, int c, size_t n);
/* as mm/kasan/shadow.c's: a range KASAN reported is not touched */
void *__wrap_memcpy(void *d, const void *s, size_t n) {
  if (!guest_check_range(s, n, 0) || !guest_check_range(d, n, 1)) return NULL;
  return __real_memcpy(d, s, n);
}
void *__wrap_memmove(void *d, const void *s, size_t n) {
  if (!guest_check_range(s, n, 0) || !guest_check_range(d, n, 1)) return NULL;
  return __real_memmove(d, s, n);
}
void *__wrap_memset(void *d, int c, size_t n) {
  if (!guest_check_range(d, n, 1)) return NULL;
  return __real_memset(d, c, n);
}
#else
/* wasi-libc's memcpy/memset run a word at a time, and the runner checks every
 * access of uninstrumented code with a call; built with -mbulk-memory these
 * are one memory.copy/memory.fill, which the runner makes one call of the
 * engine's checked __asan_memmove/__asan_memset (a range KASAN reported is
 * skipped, as mm/kasan/shadow.c's). memcpy is memmove: overlap is no bug the
 * engine reports. */
void *__wrap_memcpy(void *d, const void *s, size_t n) { __builtin_memmove(d, s, n); return d; }
void *__wrap_memmove(void *d, const void *s, size_t n) { __builtin_memmove(d, s, n); return d; }
void *__wrap_memset(void *d, int c, size_t n) { __builtin_memset(d, c, n); return d; }
#endif
