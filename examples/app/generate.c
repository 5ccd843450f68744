/* generate.c: generates text with the character-level transformer of examples/app, compiled by
 * attncc with its trained weights embedded (charlm.c/charlm.h, `make app`). The model reads a
 * fixed window of CONTEXT character ids and returns next-character logits for every position,
 * so the program keeps the text so far, feeds its last CONTEXT characters (a shorter text
 * sits at the start of the window: causal attention never looks at the unused tail) and
 * picks the next character from the logits of the last real position: greedy by default,
 * or sampled with a temperature and a seed.
 *
 *   generate [-n COUNT] [-t TEMPERATURE] [-s SEED] [PROMPT]    print PROMPT and COUNT more characters
 *   generate --logits [PROMPT]                                 print the next-character logits, one a line
 */
#include "charlm.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the vocabulary in id order: vocab.json is a JSON string, and for ASCII text that is also a
 * C string literal */
static const char vocab[] =
#include "vocab.json"
    ;

enum { CONTEXT = CHARLM_IDS_NUMEL, VOCAB = CHARLM_LOGITS_NUMEL / CHARLM_IDS_NUMEL };
_Static_assert(sizeof vocab - 1 == VOCAB, "vocab.json does not match the model's vocabulary size");

typedef struct {
  int32_t *ids;          /* the text so far, as character ids */
  size_t len, cap;
} Text;

static void append(Text *t, int32_t id) {
  if (t->len == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 256;
    t->ids = realloc(t->ids, t->cap * sizeof *t->ids);
    if (!t->ids) {
      fprintf(stderr, "generate: out of memory\n");
      exit(1);
    }
  }
  t->ids[t->len++] = id;
}

static int char_id(char c) {
  const char *p = memchr(vocab, c, VOCAB);
  return p ? (int)(p - vocab) : -1;
}

/* runs the model on the window ending at the last character of t and returns the logits of
 * that position (a row of `logits`) */
static const float *next_logits(const Text *t, float *logits, void *workspace) {
  static int32_t window[CONTEXT];
  size_t start = t->len > CONTEXT ? t->len - CONTEXT : 0, n = t->len - start;
  memcpy(window, t->ids + start, n * sizeof *window);
  memset(window + n, 0, (CONTEXT - n) * sizeof *window); /* after the text: never attended to */
  if (charlm_run(window, logits, workspace) != 0) {
    fprintf(stderr, "generate: a character id is out of range\n");
    exit(1);
  }
  return logits + (n - 1) * VOCAB;
}

/* xorshift64*: a small seeded generator, the same sequence on every machine */
static double uniform01(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return (double)((*state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int pick(const float *row, double temperature, uint64_t *rng) {
  int best = 0;
  for (int i = 1; i < VOCAB; i++)
    if (row[i] > row[best])
      best = i;
  if (temperature <= 0)
    return best;
  double weights[VOCAB], total = 0;
  for (int i = 0; i < VOCAB; i++)
    total += weights[i] = exp((row[i] - row[best]) / temperature);
  double u = uniform01(rng) * total;
  for (int i = 0; i < VOCAB; i++)
    if ((u -= weights[i]) < 0)
      return i;
  return best;
}

static void usage(void) {
  fprintf(stderr, "usage: generate [-n COUNT] [-t TEMPERATURE] [-s SEED] [PROMPT]\n"
                  "       generate --logits [PROMPT]\n"
                  "  -n COUNT        characters to generate (default 300)\n"
                  "  -t TEMPERATURE  sample from softmax(logits / TEMPERATURE); 0 (default) is greedy\n"
                  "  -s SEED         seed of the sampling (default 1)\n"
                  "  --logits        print the %d logits for the character after PROMPT\n"
                  "The prompt (default \"This License\") may use only the model's %d characters.\n",
          VOCAB, VOCAB);
  exit(2);
}

static double number_arg(const char *flag, const char *s) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (!s || *end || end == s || errno || v < 0) {
    fprintf(stderr, "generate: error: %s needs a non-negative number\n", flag);
    usage();
  }
  return v;
}

int main(int argc, char **argv) {
  long count = 300;
  double temperature = 0;
  uint64_t seed = 1;
  int print_logits = 0;
  const char *prompt = "This License";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n"))
      count = (long)number_arg("-n", i + 1 < argc ? argv[++i] : NULL);
    else if (!strcmp(argv[i], "-t"))
      temperature = number_arg("-t", i + 1 < argc ? argv[++i] : NULL);
    else if (!strcmp(argv[i], "-s"))
      seed = (uint64_t)number_arg("-s", i + 1 < argc ? argv[++i] : NULL);
    else if (!strcmp(argv[i], "--logits"))
      print_logits = 1;
    else if (argv[i][0] == '-' && argv[i][1])
      usage();
    else
      prompt = argv[i];
  }

  Text text = {0};
  for (const char *p = prompt; *p; p++) {
    int id = char_id(*p);
    if (id < 0) {
      unsigned char byte = (unsigned char)*p;
      fprintf(stderr, "generate: error: the prompt's byte 0x%02x ('%c') is not in the vocabulary\n", byte,
              byte >= 32 && byte < 127 ? byte : '?');
      return 1;
    }
    append(&text, id);
  }
  if (text.len == 0)
    append(&text, char_id('\n')); /* an empty prompt starts a new line */

  static float logits[CHARLM_LOGITS_NUMEL];
  void *workspace = aligned_alloc(CHARLM_WORKSPACE_ALIGN, (CHARLM_WORKSPACE_SIZE / CHARLM_WORKSPACE_ALIGN + 1) *
                                                              CHARLM_WORKSPACE_ALIGN);
  if (!workspace) {
    fprintf(stderr, "generate: out of memory\n");
    return 1;
  }
  if (print_logits) {
    const float *row = next_logits(&text, logits, workspace);
    for (int i = 0; i < VOCAB; i++)
      printf("%.9g\n", row[i]);
  } else {
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1; /* never 0 */
    fputs(prompt, stdout);
    for (long k = 0; k < count; k++) {
      int id = pick(next_logits(&text, logits, workspace), temperature, &rng);
      append(&text, id);
      putchar(vocab[id]);
    }
    putchar('\n');
  }
  free(workspace);
  free(text.ids);
  return 0;
}
