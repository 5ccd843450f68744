/* debug_main.c: the program `attncc debug` builds. It runs the unfused reference build
 * of the model on REF's inputs, keeping a copy of every tensor its hook receives, then
 * the compiled build, comparing each tensor as it is computed with the reference
 * tensor of the same name (the rule of `attncc check`). It prints the tensors checked
 * up to the first that is out of tolerance and names that op, its model.lua line,
 * module path, shape and error; then each output against REF, when REF holds it.
 * Exit 0 when nothing diverges, 1 on a divergence or a reference file that does not
 * fit, 2 when it cannot run.
 * usage: debug REF.safetensors TOL [--weights W.safetensors] */
#define _POSIX_C_SOURCE 200809L
#include "debug_main.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_ROWS 24 /* rows of the table before the first divergence */

/* one of the two builds and what a run of it needs */
typedef struct {
  const check_model *m; /* its check driver's table */
  const attncc_debug_tensor *tensors;
  int ntensors;
  void (*set_hook)(attncc_debug_hook, void *);
  void **out, *params, *ws;
  float *storage;
} build;

typedef struct {
  int ref_index;                           /* the reference tensor of the same name, or -1 */
  int seen;                                /* the hook received it */
  tensor_error err;
  double got;                              /* the compiled value of the worst element */
} result;

typedef struct {
  build *ref, *model;
  void **saved;                            /* the reference's tensors, by its index */
  result *results;                         /* the compiled build's, by its index */
  double tol;
} session;

static size_t tensor_bytes(const attncc_debug_tensor *t) {
  return (size_t)t->numel * (t->dtype == 2 ? 1 : 4);
}

static void keep_reference(int index, const void *data, void *user) {
  session *s = user;
  size_t bytes = tensor_bytes(&s->ref->tensors[index]);
  free(s->saved[index]);
  s->saved[index] = malloc(bytes + 1);
  if (s->saved[index])
    memcpy(s->saved[index], data, bytes);
}

static int same_debug_shape(const attncc_debug_tensor *a, const attncc_debug_tensor *b) {
  if (a->ndim != b->ndim || a->dtype != b->dtype)
    return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d])
      return 0;
  return 1;
}

static void compare_with_reference(int index, const void *data, void *user) {
  session *s = user;
  result *r = &s->results[index];
  const attncc_debug_tensor *t = &s->model->tensors[index];
  r->seen = 1;
  if (r->ref_index < 0 || !s->saved[r->ref_index] ||
      !same_debug_shape(t, &s->ref->tensors[r->ref_index]))
    return;
  r->err = compare_tensor(data, t->dtype, s->saved[r->ref_index], t->dtype, t->numel, s->tol);
  r->got = value_at(data, t->dtype, r->err.worst);
}

static int count_tensors(const attncc_debug_tensor *t) {
  int n = 0;
  while (t[n].name)
    n++;
  return n;
}

/* allocates the build's buffers and loads its weights; 0 on success */
static int prepare(build *b, int nout, const char *weights) {
  char err[1024];
  b->ntensors = count_tensors(b->tensors);
  b->out = calloc((size_t)nout + 1, sizeof *b->out);
  b->params = calloc(1, b->m->params_size + 1);
  b->ws = aligned_alloc(64, (b->m->workspace_size + 63) / 64 * 64 + 64);
  if (!b->out || !b->params || !b->ws)
    return 1;
  for (int k = 0; k < nout; k++)
    if (!(b->out[k] = calloc((size_t)b->m->outputs[k].numel + 1, 4)))
      return 1;
  if (!b->m->param_info)
    return 0;
  if (!weights) {
    fprintf(stderr, "debug: error: this model loads its weights at run time: pass --weights\n");
    return 1;
  }
  if (attncc_load_params(weights, b->m->param_info, b->m->num_params, b->m->buffer_names,
                         b->params, &b->storage, err, sizeof err) != 0) {
    fprintf(stderr, "debug: error: %s\n", err);
    return 1;
  }
  return 0;
}

static void release(build *b, int nout) {
  for (int k = 0; b->out && k < nout; k++)
    free(b->out[k]);
  free(b->out);
  free(b->params);
  free(b->storage);
  free(b->ws);
}

static const char *shape_of(const attncc_debug_tensor *t, char *buf, size_t len) {
  format_shape(t->shape, t->ndim, buf, len);
  return buf;
}

static int diverges(const result *r) { return r->seen && r->ref_index >= 0 && !r->err.ok; }

static void print_row(const session *s, int i, int width, const char *mark) {
  const attncc_debug_tensor *t = &s->model->tensors[i];
  const result *r = &s->results[i];
  char shape[128];
  char err[32] = "-";
  if (r->ref_index < 0)
    snprintf(err, sizeof err, "no ref");
  else if (r->seen)
    snprintf(err, sizeof err, "%.2g", r->err.max_abs);
  printf("debug: %4d  %-*s %-22s %-14s %-9s %s:%d%s%s%s%s\n", i + 1, width, t->name, t->kernel,
         shape_of(t, shape, sizeof shape), err, t->file, t->line, t->path[0] ? " (" : "",
         t->path, t->path[0] ? ")" : "", mark);
}

/* the table of the tensors checked up to row `last`: the first rows and the last ones */
static void print_table(const session *s, int last) {
  int skip_from = last + 1 > TABLE_ROWS ? 3 : last + 1, skip_to = last + 1 - (TABLE_ROWS - 4);
  int width = 6;
  for (int i = 0; i <= last; i++)
    if ((i < skip_from || i >= skip_to) && (int)strlen(s->model->tensors[i].name) > width)
      width = (int)strlen(s->model->tensors[i].name);
  printf("debug:    #  %-*s %-22s %-14s %-9s %s\n", width, "tensor", "kernel", "shape",
         "max|err|", "model line (module)");
  for (int i = 0; i <= last; i++) {
    if (i >= skip_from && i < skip_to) {
      if (i == skip_from)
        printf("debug:        ... %d more, within tolerance\n", skip_to - skip_from);
      continue;
    }
    print_row(s, i, width, diverges(&s->results[i]) ? "  <- first divergence" : "");
  }
}

static void print_divergence(const session *s, int i) {
  const attncc_debug_tensor *t = &s->model->tensors[i];
  const result *r = &s->results[i];
  char shape[128];
  const char *where = t->file;
  printf("%s:%d: first divergence: %s", where, t->line, t->op);
  if (t->path[0])
    printf(" (%s)", t->path);
  printf(" %s max |err| %.2g (tol %g)\n", shape_of(t, shape, sizeof shape), r->err.max_abs,
         s->tol);
  printf("%s:%d:   tensor %s, computed by the kernel %s", where, t->line, t->name, t->kernel);
  if (t->covers[0])
    printf(" (it computes %s)", t->covers);
  printf("\n");
  double want = value_at(s->saved[r->ref_index], t->dtype, r->err.worst);
  int later = 0;
  for (int k = i + 1; k < s->model->ntensors; k++)
    later += diverges(&s->results[k]);
  printf("%s:%d:   worst element %lld: compiled %.9g, reference %.9g; %d later tensor%s differ%s\n",
         where, t->line, r->err.worst, r->got, want, later, later == 1 ? "" : "s",
         later == 1 ? "s" : "");
}

/* each output of both builds against REF's tensor of that name, when REF has it */
static int compare_outputs(const session *s, const attncc_st_file *ref, int nout) {
  int ok = 1;
  for (int k = 0; k < nout; k++) {
    const check_tensor *c = &s->model->m->outputs[k];
    if (!attncc_st_find(ref, c->name))
      continue;
    const attncc_st_tensor *t = find_checked(ref, c, "output");
    float *expect = t ? malloc((size_t)c->numel * 4 + 1) : NULL;
    if (!expect || attncc_st_to_f32(t, expect) != 0) {
      free(expect);
      return 0;
    }
    tensor_error m = compare_tensor(s->model->out[k], c->dtype, expect, 0, c->numel, s->tol);
    tensor_error u = compare_tensor(s->ref->out[k], c->dtype, expect, 0, c->numel, s->tol);
    printf("debug: output %s against the reference file: compiled max_abs_err %.3g %s, "
           "unfused max_abs_err %.3g %s\n", c->name, m.max_abs, m.ok ? "ok" : "MISMATCH",
           u.max_abs, u.ok ? "ok" : "MISMATCH");
    if (!u.ok)
      printf("debug:   the unfused build differs from the reference file too: model.lua (or "
             "the weights) does not compute what produced it\n");
    ok &= m.ok && u.ok;
    free(expect);
  }
  return ok;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REF.safetensors TOL [--weights W.safetensors]\n", argv[0]);
    return 2;
  }
  const char *weights = argc >= 5 && !strcmp(argv[3], "--weights") ? argv[4] : NULL;
  char err[1024];
  attncc_st_file ref;
  if (attncc_st_open(&ref, argv[1], err, sizeof err) != 0) {
    fprintf(stderr, "check: error: %s\n", err);
    return 1;
  }
  build model = {.m = &model_under_check, .tensors = model_debug_tensors,
                 .set_hook = model_set_debug_hook};
  build unfused = {.m = &reference_under_check, .tensors = ref_debug_tensors,
                   .set_hook = ref_set_debug_hook};
  session s = {&unfused, &model, NULL, NULL, atof(argv[2])};
  int nin = 0, nout = 0, status = 1;
  while (model_under_check.inputs[nin].name)
    nin++;
  while (model_under_check.outputs[nout].name)
    nout++;
  void **in = calloc((size_t)nin + 1, sizeof *in);
  if (!in || prepare(&model, nout, weights) || prepare(&unfused, nout, weights))
    goto done;
  for (int i = 0; i < nin; i++) {
    const attncc_st_tensor *t = find_checked(&ref, &model_under_check.inputs[i], "input");
    if (!t || !(in[i] = load_input(t, &model_under_check.inputs[i])))
      goto done;
  }
  s.saved = calloc((size_t)unfused.ntensors + 1, sizeof *s.saved);
  s.results = calloc((size_t)model.ntensors + 1, sizeof *s.results);
  if (!s.saved || !s.results)
    goto done;
  for (int i = 0; i < model.ntensors; i++) {
    s.results[i].ref_index = -1;
    for (int j = 0; j < unfused.ntensors; j++)
      if (!strcmp(model.tensors[i].name, unfused.tensors[j].name))
        s.results[i].ref_index = j;
  }
  unfused.set_hook(keep_reference, &s);
  int rc_ref = unfused.m->call(in, unfused.out, unfused.params, unfused.ws);
  model.set_hook(compare_with_reference, &s);
  int rc = model.m->call(in, model.out, model.params, model.ws);
  if (rc != 0 || rc_ref != 0)
    printf("debug: the model returned %d (unfused: %d): an index input out of range\n", rc, rc_ref);
  int first = -1;
  for (int i = 0; i < model.ntensors && first < 0; i++)
    if (diverges(&s.results[i]))
      first = i;
  printf("debug: %d tensors of the compiled model against the unfused reference (tol %g)\n",
         model.ntensors, s.tol);
  print_table(&s, first >= 0 ? first : model.ntensors - 1);
  if (first >= 0)
    print_divergence(&s, first);
  else
    printf("debug: no divergence: every tensor is within tolerance of the unfused reference\n");
  int outputs_ok = compare_outputs(&s, &ref, nout);
  status = first < 0 && outputs_ok ? 0 : 1;
done:
  for (int i = 0; in && i < nin; i++)
    free(in[i]);
  free(in);
  for (int j = 0; s.saved && j < unfused.ntensors; j++)
    free(s.saved[j]);
  free(s.saved);
  free(s.results);
  release(&model, nout);
  release(&unfused, nout);
  attncc_st_close(&ref);
  return status;
}
