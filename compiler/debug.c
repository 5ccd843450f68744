/* debug.c: `attncc debug MODEL.lua --ref REF [--weights W]`. Builds one program holding
 * two debug builds of the model (see debug_emit.c): the compiled one, as `attncc check`
 * would build it, and a reference, the same model with no rewriting pass (no folding,
 * no fusion) and the plain kernels of templates/kernels_reference.c, its weights
 * loaded at run time. The program
 * (templates/debug_main.c) runs both on REF's inputs, compares every tensor of the
 * compiled build with the reference tensor of the same name, and names the first
 * op that diverges with its model.lua line, module path, shape and error. */
#include "debug.h"

#include <stdlib.h>
#include <string.h>

static const char *const debug_files[] = {"attncc_safetensors.c", "attncc_safetensors.h",
                                          "attncc_params.c", "attncc_params.h",
                                          "tensor_io.c", "tensor_io.h",
                                          "check_main.h", "debug_main.c", "debug_main.h", NULL};

/* the kernels of the reference build: templates/kernels_reference.c, the simplest code */
static const Target reference_target = {.name = "reference", .kernels = "kernels_reference.c",
                                        .gemm_nr = 16, .gemm_mr = 1, .cflags = ""};

/* the same model with no rewriting pass: each op its own straightforward kernel */
static Graph *reference_graph(const HostOptions *ho, const Target *reference) {
  Graph *r = lua_host_run(ho);
  if (!r)
    return NULL;
  debug_record(r);
  r->target = reference;
  r->threads = 1;
  pack_weights(r); /* the GEMM kernels read packed weights; sizes the scratch */
  memplan_run(r);
  return r;
}

int debug_run(const Graph *g, const EmitOptions *eo, const CheckOptions *co,
              const HostOptions *ho) {
  const Target *reference = &reference_target;
  Graph *r = reference_graph(ho, reference);
  if (!r)
    return 2;
  EmitOptions mo = *eo, ro = *eo;
  mo.prefix = "model";
  mo.header_name = "model.h";
  mo.debug = true;
  mo.blob = NULL; /* debug builds keep the weights in the C file */
  ro.prefix = "ref";
  ro.header_name = "ref.h";
  ro.debug = true;
  ro.fault = NULL;
  ro.target = reference;
  ro.threads = 1;
  ro.embed_weights = r->nparams == 0;
  ro.blob = NULL;
  ro.check_table = "reference_under_check"; /* debug_main.h */
  const GeneratedFile files[] = {{"model.c", emit_source, g, &mo, false},
                                 {"model.h", emit_header, g, &mo, false},
                                 {"driver.c", emit_check_driver, g, &mo, false},
                                 {"ref.c", emit_source, r, &ro, false},
                                 {"ref.h", emit_header, r, &ro, false},
                                 {"ref_driver.c", emit_check_driver, r, &ro, false},
                                 {NULL, NULL, NULL, NULL, false}};
  char *args[8] = {(char *)co->ref_path, (char *)xformat("%g", co->tol), NULL};
  if (co->weights_path && (r->nparams > 0)) {
    args[2] = "--weights";
    args[3] = (char *)co->weights_path;
    args[4] = NULL;
  }
  int rc = check_build_and_run(co, files, debug_files, args);
  if (rc < 0)
    return 2;
  int status = rc == 0 ? 0 : rc == 1 ? 1 : 2; /* 1: a divergence or a bad reference file */
  printf("debug: %s\n", status == 0 ? "PASS" : "FAIL");
  return status;
}
