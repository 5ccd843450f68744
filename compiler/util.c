/* util.c: the compiler's small helpers: an arena allocator (allocate freely, free
 * everything once at exit), formatted strings, a growable string buffer, and the
 * internal-error exit used by ATTN_ASSERT (a compiler bug, never a user error). */
#include "attncc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block Block;
struct Block {
  Block *next;
  max_align_t data[];
};

static Block *arena_blocks;

void *xalloc(size_t size) {
  Block *b = calloc(1, sizeof(Block) + size);
  if (!b) {
    fprintf(stderr, "attncc: error: out of memory\n");
    exit(2);
  }
  b->next = arena_blocks;
  arena_blocks = b;
  return b->data;
}

void arena_free_all(void) {
  while (arena_blocks) {
    Block *next = arena_blocks->next;
    free(arena_blocks);
    arena_blocks = next;
  }
}

char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xalloc(n);
  memcpy(p, s, n);
  return p;
}

char *xformat(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = xalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

static void sb_reserve(StrBuf *sb, size_t extra) {
  if (sb->len + extra + 1 <= sb->cap)
    return;
  size_t cap = sb->cap ? sb->cap : 256;
  while (cap < sb->len + extra + 1)
    cap *= 2;
  char *p = realloc(sb->buf, cap);
  if (!p) {
    fprintf(stderr, "attncc: error: out of memory\n");
    exit(2);
  }
  sb->buf = p;
  sb->cap = cap;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  sb_reserve(sb, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

void sb_puts(StrBuf *sb, const char *s) {
  size_t n = strlen(s);
  sb_reserve(sb, n);
  memcpy(sb->buf + sb->len, s, n + 1);
  sb->len += n;
}

void sb_free(StrBuf *sb) {
  free(sb->buf);
  sb->buf = NULL;
  sb->len = sb->cap = 0;
}

_Noreturn void internal_error(const char *file, int line, const char *msg) {
  fprintf(stderr, "attncc: internal error at %s:%d: %s\n", file, line, msg);
  exit(2);
}

/* a C string literal of s */
const char *c_string_literal(const char *s) {
  StrBuf sb = {0};
  sb_puts(&sb, "\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      sb_printf(&sb, "\\%c", *s);
    else if (isprint((unsigned char)*s))
      sb_printf(&sb, "%c", *s);
    else
      sb_printf(&sb, "\\%03o", (unsigned char)*s);
  }
  sb_puts(&sb, "\"");
  const char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}
