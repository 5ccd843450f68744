/* attncc_params.c: matches a .safetensors file to a model's parameter list (names and
 * shapes, with did-you-mean hints) and loads the parameters as float32 into one aligned
 * block. Nothing here is specific to one generated model. */
#include "attncc_params.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PM_PRINTF(f, a)
#endif

#define PM_ALIGN ((size_t)64)
#define PM_SHAPE_TEXT 256
#define PM_MSG 1024

PM_PRINTF(3, 4)
static void pm_set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- edit distance ---- */

static size_t pm_min3(size_t a, size_t b, size_t c) {
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Levenshtein distance of a[0..la) and b[0..lb); row holds lb + 1 entries. */
static size_t pm_edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t *row) {
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (a[i - 1] != b[j - 1]);
            row[j] = pm_min3(up + 1, row[j - 1] + 1, sub);
            diag = up;
        }
    }
    return row[lb];
}

int attncc_closest_name(const char *name, const char *const *cands, int n) {
    if (name == NULL || cands == NULL || n <= 0) return -1;
    size_t la = strlen(name);
    size_t limit = la / 4 > 2 ? la / 4 : 2;
    if (la > SIZE_MAX / sizeof(size_t) - limit - 2) return -1;
    /* candidates longer than la + limit are too far anyway */
    size_t *row = malloc((la + limit + 1) * sizeof *row);
    if (row == NULL) return -1;
    int best = -1;
    size_t best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        if (cands[i] == NULL) continue;
        size_t lb = strlen(cands[i]);
        size_t gap = lb > la ? lb - la : la - lb;
        if (gap >= best_d) continue;
        size_t d = pm_edit_distance(name, la, cands[i], lb, row);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    free(row);
    return best;
}

/* " (did you mean 'x'?)" for a likely typo, else "". */
static void pm_hint(char *out, size_t cap, const char *name, const char *const *cands, int n) {
    int k = attncc_closest_name(name, cands, n);
    if (k >= 0) snprintf(out, cap, " (did you mean '%s'?)", cands[k]);
    else if (cap > 0) out[0] = '\0';
}

/* ---- lookups ---- */

static int pm_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Index of key in the sorted array v[0..n), or -1. */
static int pm_search(const char *const *v, int n, const char *key) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid], key);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static bool pm_in_list(const char *const *list, const char *name) {
    for (; list != NULL && *list != NULL; list++) {
        if (strcmp(*list, name) == 0) return true;
    }
    return false;
}

/* Names of the file's tensors (in file order) and of the parameters (sorted). */
typedef struct {
    const char **files;
    const char **params;
} pm_names;

static void pm_names_free(pm_names *nm) {
    free(nm->files);
    free(nm->params);
}

static int pm_names_init(pm_names *nm, const attncc_st_file *f, const attncc_param_info *info,
                         int n, char *err, size_t errlen) {
    nm->files = malloc(((size_t)f->ntensors + 1) * sizeof *nm->files);
    nm->params = malloc(((size_t)n + 1) * sizeof *nm->params);
    if (nm->files == NULL || nm->params == NULL) {
        pm_names_free(nm);
        pm_set_err(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < f->ntensors; i++) nm->files[i] = f->tensors[i].name;
    for (int i = 0; i < n; i++) nm->params[i] = info[i].name;
    qsort(nm->params, (size_t)n, sizeof *nm->params, pm_cmp_str);
    for (int i = 1; i < n; i++) {
        if (strcmp(nm->params[i - 1], nm->params[i]) == 0) {
            pm_set_err(err, errlen, "parameter '%s' is listed twice", nm->params[i]);
            pm_names_free(nm);
            return -1;
        }
    }
    return 0;
}

/* ---- checks ---- */

static void pm_format_shape(char *out, size_t cap, int ndim, const long long *shape) {
    size_t used = 0;
    int w = snprintf(out, cap, "[");
    for (int i = 0; i < ndim && w >= 0 && (size_t)w < cap - used; i++) {
        used += (size_t)w;
        w = snprintf(out + used, cap - used, "%s%lld", i ? "," : "", shape[i]);
    }
    if (w >= 0 && (size_t)w < cap - used) {
        used += (size_t)w;
        snprintf(out + used, cap - used, "]");
    }
}

static int pm_check_shape(const attncc_st_tensor *t, const attncc_param_info *p, char *err,
                          size_t errlen) {
    bool same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == (int64_t)p->shape[d];
    if (same) return 0;
    long long have[ATTNCC_ST_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) have[d] = (long long)t->shape[d];
    char hs[PM_SHAPE_TEXT], ws[PM_SHAPE_TEXT];
    pm_format_shape(hs, sizeof hs, t->ndim, have);
    pm_format_shape(ws, sizeof ws, p->ndim, p->shape);
    pm_set_err(err, errlen, "tensor '%s' has shape %s, expected %s", p->name, hs, ws);
    return -1;
}

/* File tensor names that name no parameter (the useful hints for a missing one), compacted
 * into out; out may be nm->files itself. */
static int pm_unmatched_files(const pm_names *nm, int nfiles, int nparams, const char **out) {
    int k = 0;
    for (int i = 0; i < nfiles; i++) {
        if (pm_search(nm->params, nparams, nm->files[i]) < 0) out[k++] = nm->files[i];
    }
    return k;
}

/* Finds info[i] in f and checks its shape; map[i] receives the tensor when map != NULL. */
static int pm_check_present(const attncc_st_file *f, const attncc_param_info *info, int n,
                            const pm_names *nm, const attncc_st_tensor **map, char *err,
                            size_t errlen) {
    for (int i = 0; i < n; i++) {
        const attncc_st_tensor *t = attncc_st_find(f, info[i].name);
        if (t == NULL) {
            int k = pm_unmatched_files(nm, f->ntensors, n, nm->files);
            char hint[PM_MSG];
            pm_hint(hint, sizeof hint, info[i].name, nm->files, k);
            pm_set_err(err, errlen, "missing tensor '%s'%s", info[i].name, hint);
            return -1;
        }
        if (pm_check_shape(t, &info[i], err, errlen) != 0) return -1;
        if (map != NULL) map[i] = t;
    }
    return 0;
}

static int pm_check_unused(const attncc_st_file *f, int n, const char *const *ignore,
                           const pm_names *nm, char *err, size_t errlen) {
    for (int i = 0; i < f->ntensors; i++) {
        const char *name = f->tensors[i].name;
        if (pm_search(nm->params, n, name) >= 0 || pm_in_list(ignore, name)) continue;
        char hint[PM_MSG];
        pm_hint(hint, sizeof hint, name, nm->params, n);
        pm_set_err(err, errlen, "unused tensor '%s'%s", name, hint);
        return -1;
    }
    return 0;
}

static int pm_check_info(const attncc_param_info *info, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (info[i].name == NULL || info[i].ndim < 0 || info[i].ndim > ATTNCC_ST_MAX_DIMS) {
            pm_set_err(err, errlen, "parameter %d has no name or a bad ndim", i);
            return -1;
        }
    }
    return 0;
}

static int pm_match(const attncc_st_file *f, const attncc_param_info *info, int n,
                    const char *const *ignore, const attncc_st_tensor **map, char *err,
                    size_t errlen) {
    if (f == NULL || n < 0 || (n > 0 && info == NULL)) {
        pm_set_err(err, errlen, "bad arguments");
        return -1;
    }
    if (pm_check_info(info, n, err, errlen) != 0) return -1;
    pm_names nm;
    if (pm_names_init(&nm, f, info, n, err, errlen) != 0) return -1;
    int rc = pm_check_present(f, info, n, &nm, map, err, errlen);
    if (rc == 0) rc = pm_check_unused(f, n, ignore, &nm, err, errlen);
    pm_names_free(&nm);
    return rc;
}

int attncc_match_params(const attncc_st_file *f, const attncc_param_info *info, int n,
                        const char *const *ignore, char *err, size_t errlen) {
    return pm_match(f, info, n, ignore, NULL, err, errlen);
}

/* ---- loading ---- */

static size_t pm_round_up(size_t x) {
    return (x + PM_ALIGN - 1) / PM_ALIGN * PM_ALIGN;
}

/* Byte offset of each tensor in the block (offs[0..n)) and the block size, or 0 on overflow. */
static size_t pm_layout(const attncc_st_tensor *const *map, int n, size_t *offs) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = (uint64_t)map[i]->numel;
        if (numel > (SIZE_MAX - PM_ALIGN) / sizeof(float) - total / sizeof(float)) return 0;
        offs[i] = total;
        total = pm_round_up(total + (size_t)numel * sizeof(float));
    }
    return total > 0 ? total : PM_ALIGN;
}

/* Converts the matched tensors into a new aligned block and fills the params slots. */
static float *pm_fill(const attncc_st_tensor *const *map, const attncc_param_info *info, int n,
                      void *params, size_t *offs, char *err, size_t errlen) {
    size_t total = pm_layout(map, n, offs);
    float *block = total > 0 ? aligned_alloc(PM_ALIGN, total) : NULL;
    if (total == 0) {
        pm_set_err(err, errlen, "parameters are too large for memory");
        return NULL;
    }
    if (block == NULL) {
        pm_set_err(err, errlen, "out of memory for %zu bytes of parameters", total);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        float *dst = (float *)((char *)block + offs[i]);
        if (attncc_st_to_f32(map[i], dst) != 0) {
            pm_set_err(err, errlen, "tensor '%s': cannot convert %s to float32", info[i].name,
                       attncc_st_dtype_name(map[i]->dtype));
            free(block);
            return NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        const float *p = (const float *)((const char *)block + offs[i]);
        memcpy((char *)params + info[i].offset, &p, sizeof p);
    }
    return block;
}

/* Prefixes err with "'path': ". */
static void pm_prefix_path(const char *path, char *err, size_t errlen) {
    if (err == NULL || errlen == 0) return;
    char inner[PM_MSG];
    snprintf(inner, sizeof inner, "%s", err);
    pm_set_err(err, errlen, "'%s': %s", path, inner);
}

int attncc_load_params(const char *path, const attncc_param_info *info, int n,
                       const char *const *ignore, void *params, float **storage, char *err,
                       size_t errlen) {
    if (storage != NULL) *storage = NULL;
    if (path == NULL || storage == NULL || n < 0 || (n > 0 && (info == NULL || params == NULL))) {
        pm_set_err(err, errlen, "bad arguments to attncc_load_params");
        return -1;
    }
    attncc_st_file f;
    if (attncc_st_open(&f, path, err, errlen) != 0) return -1;
    const attncc_st_tensor **map = malloc(((size_t)n + 1) * sizeof *map);
    size_t *offs = malloc(((size_t)n + 1) * sizeof *offs);
    int rc = -1;
    if (map == NULL || offs == NULL) {
        pm_set_err(err, errlen, "out of memory");
    } else if (pm_match(&f, info, n, ignore, map, err, errlen) != 0) {
        pm_prefix_path(path, err, errlen);
    } else {
        *storage = pm_fill(map, info, n, params, offs, err, errlen);
        rc = *storage != NULL ? 0 : -1;
    }
    free(map);
    free(offs);
    attncc_st_close(&f);
    return rc;
}
