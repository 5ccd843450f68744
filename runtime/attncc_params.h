/* attncc_params.h: checks a .safetensors file against a model's parameter list and loads
 * it as float32 at run time. Linked by generated models and by the compiler (which uses the
 * checks alone). */
#ifndef ATTNCC_PARAMS_H
#define ATTNCC_PARAMS_H

#include <stddef.h>

#include "attncc_safetensors.h"

/* Generated model headers repeat this typedef under the same guard. */
#ifndef ATTNCC_PARAM_INFO_DEFINED
#define ATTNCC_PARAM_INFO_DEFINED
typedef struct {
    const char *name;
    int ndim;
    long long shape[8];
    size_t offset; /* byte offset of the `const float *` slot inside the model's params struct */
} attncc_param_info;
#endif

/* Loads the file at path: checks it with attncc_match_params (tensors named in ignore, e.g. the model's
 * registered buffers <prefix>_buffer_names, are allowed and skipped), converts
 * each parameter to float32 into one malloc'ed block (each tensor at a 64-byte aligned
 * offset), stores each tensor's pointer into
 * *(const float **)((char *)params + info[i].offset) and returns the block in *storage
 * (free it with free()). 0 on success; -1 with err filled, *storage NULL and params
 * untouched. */
int attncc_load_params(const char *path, const attncc_param_info *info, int n,
                       const char *const *ignore, void *params, float **storage, char *err,
                       size_t errlen);

/* The checks alone: every info[i] must be in f with exactly its shape, and every tensor
 * of f must be a parameter unless its name is in ignore (NULL-terminated, may be NULL).
 * Messages suggest the closest name for likely typos. 0 when all match, else -1. */
int attncc_match_params(const attncc_st_file *f, const attncc_param_info *info, int n,
                        const char *const *ignore, char *err, size_t errlen);

/* Index of the candidate with the smallest edit distance to name when that distance is
 * <= max(2, strlen(name) / 4) (a likely typo); -1 otherwise. Ties go to the lower index;
 * NULL candidates are skipped. */
int attncc_closest_name(const char *name, const char *const *cands, int n);

#endif /* ATTNCC_PARAMS_H */
