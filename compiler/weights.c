/* weights.c: embedded-weights mode. Reads a .safetensors file, checks it against the
 * model's parameters by state_dict name and shape (runtime/attncc_params.c does the
 * matching and the did-you-mean hints) and converts every tensor to float32 into the
 * param nodes, from where the emitter writes them as exact hex-float constants. */
#include "attncc.h"

#include "attncc_params.h"

#include <stdlib.h>
#include <string.h>

static attncc_param_info *param_infos(const Graph *g) {
  attncc_param_info *info = xalloc(sizeof *info * (size_t)(g->nparams + 1));
  for (int i = 0; i < g->nparams; i++) {
    const Node *n = g->params[i];
    info[i].name = n->name;
    info[i].ndim = n->shape.ndim;
    for (int d = 0; d < n->shape.ndim; d++)
      info[i].shape[d] = n->shape.dim[d];
  }
  return info;
}

bool weights_load(Graph *g, const char *path) {
  char err[1024];
  attncc_st_file f;
  if (attncc_st_open(&f, path, err, sizeof err) != 0) {
    /* the reader's messages name the file already: "'path': ..." or "cannot open 'path': ..." */
    const char *quoted = xformat("'%s': ", path);
    if (!strncmp(err, quoted, strlen(quoted)))
      fprintf(stderr, "%s: error: %s\n", path, err + strlen(quoted));
    else
      fprintf(stderr, "attncc: error: %s\n", err);
    return false;
  }
  const char **ignore = xalloc(sizeof(char *) * (size_t)(g->nbuffer_names + 1));
  for (int i = 0; i < g->nbuffer_names; i++)
    ignore[i] = g->buffer_names[i];
  bool ok = attncc_match_params(&f, param_infos(g), g->nparams, ignore, err, sizeof err) == 0;
  if (!ok)
    fprintf(stderr, "%s: error: %s\n", path, err);
  for (int i = 0; ok && i < g->nparams; i++) {
    Node *n = g->params[i];
    const attncc_st_tensor *t = attncc_st_find(&f, n->name);
    n->data = xalloc(sizeof(float) * (size_t)shape_numel(&n->shape));
    if (attncc_st_to_f32(t, n->data) != 0) {
      fprintf(stderr, "%s: error: tensor '%s': cannot convert %s to float32\n", path, n->name,
              attncc_st_dtype_name(t->dtype));
      ok = false;
    }
  }
  attncc_st_close(&f);
  return ok;
}
