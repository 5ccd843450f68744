/* attncc_safetensors.c: validating .safetensors reader, dtype conversions and a small
 * writer. Layout: u64 little-endian header length N, N bytes of JSON header, payload.
 * Values are read byte-wise (the payload may be unaligned). */
#include "attncc_safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ST_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ST_PRINTF(f, a)
#endif

/* JSON numbers are doubles: integers above 2^53 cannot be represented exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0
#define ST_SHAPE_TEXT 256
#define ST_READ_CHUNK ((size_t)1 << 20)
#define ST_FIRST_READ ((size_t)1 << 16)

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    [ATTNCC_ST_F32] = {"F32", 4}, [ATTNCC_ST_F16] = {"F16", 2}, [ATTNCC_ST_BF16] = {"BF16", 2},
    [ATTNCC_ST_F64] = {"F64", 8}, [ATTNCC_ST_I64] = {"I64", 8}, [ATTNCC_ST_I32] = {"I32", 4},
    [ATTNCC_ST_I16] = {"I16", 2}, [ATTNCC_ST_I8] = {"I8", 1},   [ATTNCC_ST_U8] = {"U8", 1},
    [ATTNCC_ST_BOOL] = {"BOOL", 1},
};
#define ST_NDTYPES ((int)(sizeof st_dtypes / sizeof st_dtypes[0]))

/* Parsing state shared by the validation steps. */
typedef struct {
    char *err;
    size_t errlen;
    const unsigned char *payload;
    size_t payload_len;
} st_ctx;

ST_PRINTF(3, 4)
static void st_set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool st_valid_dtype(attncc_st_dtype t) {
    return (int)t >= 0 && (int)t < ST_NDTYPES;
}

const char *attncc_st_dtype_name(attncc_st_dtype t) {
    return st_valid_dtype(t) ? st_dtypes[t].name : "?";
}

size_t attncc_st_dtype_size(attncc_st_dtype t) {
    return st_valid_dtype(t) ? st_dtypes[t].size : 0;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

/* Writes "[2,3]" (or "[]") into out. */
static void st_format_shape(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t used = 0;
    int w = snprintf(out, cap, "[");
    for (int i = 0; i < ndim && w >= 0 && (size_t)w < cap - used; i++) {
        used += (size_t)w;
        w = snprintf(out + used, cap - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    }
    if (w >= 0 && (size_t)w < cap - used) {
        used += (size_t)w;
        snprintf(out + used, cap - used, "]");
    }
}

/* ---- little-endian loads ---- */

static uint16_t st_load_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t st_load_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t st_load_u64(const unsigned char *p) {
    return (uint64_t)st_load_u32(p) | (uint64_t)st_load_u32(p + 4) << 32;
}

static void st_store_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static float st_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int64_t st_load_i64(const unsigned char *p) {
    uint64_t u = st_load_u64(p);
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- header validation ---- */

/* Accepts a JSON number that is an exact non-negative integer no larger than 2^53. */
static bool st_json_uint(const cJSON *item, int64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_JSON_INT)) return false;
    int64_t v = (int64_t)d;
    if ((double)v != d) return false;
    *out = v;
    return true;
}

static bool st_is_json_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses the N header bytes (copied so cJSON sees a terminated string). */
static cJSON *st_parse_json(const unsigned char *hdr, size_t n, st_ctx *c) {
    char *text = malloc(n + 1);
    if (text == NULL) {
        st_set_err(c->err, c->errlen, "out of memory reading a %zu-byte header", n);
        return NULL;
    }
    memcpy(text, hdr, n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    size_t pos = end != NULL && end >= text ? (size_t)(end - text) : 0;
    if (root == NULL) {
        st_set_err(c->err, c->errlen, "header is not valid JSON (error near byte %zu of %zu)",
                   pos, n);
    } else {
        while (pos < n && st_is_json_space((unsigned char)text[pos])) pos++;
        if (pos < n) {
            st_set_err(c->err, c->errlen,
                       "header has trailing data after the JSON object at byte %zu of %zu", pos, n);
            cJSON_Delete(root);
            root = NULL;
        }
    }
    free(text);
    return root;
}

static int st_check_metadata(const cJSON *meta, st_ctx *c) {
    if (!cJSON_IsObject(meta)) {
        st_set_err(c->err, c->errlen, "\"__metadata__\" is not an object");
        return -1;
    }
    for (const cJSON *kv = meta->child; kv != NULL; kv = kv->next) {
        if (!cJSON_IsString(kv)) {
            st_set_err(c->err, c->errlen, "\"__metadata__\" entry '%s' is not a string",
                       kv->string ? kv->string : "");
            return -1;
        }
    }
    return 0;
}

static int st_parse_dtype(const cJSON *entry, const char *name, attncc_st_dtype *out,
                          st_ctx *c) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (d == NULL) {
        st_set_err(c->err, c->errlen, "tensor '%s': missing \"dtype\"", name);
        return -1;
    }
    if (!cJSON_IsString(d)) {
        st_set_err(c->err, c->errlen, "tensor '%s': \"dtype\" is not a string", name);
        return -1;
    }
    for (int i = 0; i < ST_NDTYPES; i++) {
        if (strcmp(d->valuestring, st_dtypes[i].name) == 0) {
            *out = (attncc_st_dtype)i;
            return 0;
        }
    }
    st_set_err(c->err, c->errlen, "tensor '%s': unknown or unsupported dtype '%s'", name,
               d->valuestring);
    return -1;
}

/* Multiplies the dims into t->numel and t->nbytes, refusing overflow. */
static int st_count_elements(attncc_st_tensor *t, st_ctx *c) {
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0) numel = 0;
    }
    for (int i = 0; i < t->ndim && numel != 0; i++) {
        if (numel > INT64_MAX / t->shape[i]) numel = -1;
        else numel *= t->shape[i];
        if (numel < 0) break;
    }
    size_t esize = st_dtypes[t->dtype].size;
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / esize) {
        char s[ST_SHAPE_TEXT];
        st_format_shape(s, sizeof s, t->ndim, t->shape);
        st_set_err(c->err, c->errlen, "tensor '%s': element count of shape %s overflows",
                   t->name, s);
        return -1;
    }
    t->numel = numel;
    t->nbytes = (size_t)numel * esize;
    return 0;
}

static int st_parse_shape(const cJSON *entry, attncc_st_tensor *t, st_ctx *c) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (s == NULL) {
        st_set_err(c->err, c->errlen, "tensor '%s': missing \"shape\"", t->name);
        return -1;
    }
    if (!cJSON_IsArray(s)) {
        st_set_err(c->err, c->errlen, "tensor '%s': \"shape\" is not an array", t->name);
        return -1;
    }
    int n = cJSON_GetArraySize(s);
    if (n > ATTNCC_ST_MAX_DIMS) {
        st_set_err(c->err, c->errlen, "tensor '%s': shape has %d dims, at most %d are supported",
                   t->name, n, ATTNCC_ST_MAX_DIMS);
        return -1;
    }
    int i = 0;
    for (const cJSON *d = s->child; d != NULL; d = d->next, i++) {
        if (!st_json_uint(d, &t->shape[i])) {
            st_set_err(c->err, c->errlen,
                       "tensor '%s': shape[%d] is not a non-negative integer", t->name, i);
            return -1;
        }
    }
    t->ndim = n;
    return st_count_elements(t, c);
}

static int st_parse_offsets(const cJSON *entry, attncc_st_tensor *t, st_ctx *c) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    int64_t be[2];
    if (o == NULL) {
        st_set_err(c->err, c->errlen, "tensor '%s': missing \"data_offsets\"", t->name);
        return -1;
    }
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != 2 ||
        !st_json_uint(o->child, &be[0]) || !st_json_uint(o->child->next, &be[1])) {
        st_set_err(c->err, c->errlen,
                   "tensor '%s': \"data_offsets\" is not an array of 2 non-negative integers",
                   t->name);
        return -1;
    }
    if (be[0] > be[1]) {
        st_set_err(c->err, c->errlen, "tensor '%s': data_offsets [%lld, %lld] begin after end",
                   t->name, (long long)be[0], (long long)be[1]);
        return -1;
    }
    if ((uint64_t)be[1] > c->payload_len) {
        st_set_err(c->err, c->errlen,
                   "tensor '%s': data_offsets [%lld, %lld] go past the end of the data "
                   "(%zu bytes)",
                   t->name, (long long)be[0], (long long)be[1], c->payload_len);
        return -1;
    }
    if ((uint64_t)(be[1] - be[0]) != (uint64_t)t->nbytes) {
        char s[ST_SHAPE_TEXT];
        st_format_shape(s, sizeof s, t->ndim, t->shape);
        st_set_err(c->err, c->errlen,
                   "tensor '%s': data_offsets [%lld, %lld] do not match %s shape %s (%zu bytes)",
                   t->name, (long long)be[0], (long long)be[1], st_dtypes[t->dtype].name, s,
                   t->nbytes);
        return -1;
    }
    t->data = c->payload + be[0];
    return 0;
}

static int st_parse_entry(const cJSON *entry, attncc_st_tensor *t, st_ctx *c) {
    t->name = st_strdup(entry->string);
    if (t->name == NULL) {
        st_set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (!cJSON_IsObject(entry)) {
        st_set_err(c->err, c->errlen, "tensor '%s': entry is not an object", t->name);
        return -1;
    }
    if (st_parse_dtype(entry, t->name, &t->dtype, c) != 0) return -1;
    if (st_parse_shape(entry, t, c) != 0) return -1;
    return st_parse_offsets(entry, t, c);
}

static int st_cmp_name(const void *a, const void *b) {
    const attncc_st_tensor *x = *(const attncc_st_tensor *const *)a;
    const attncc_st_tensor *y = *(const attncc_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int st_cmp_data(const void *a, const void *b) {
    const attncc_st_tensor *x = *(const attncc_st_tensor *const *)a;
    const attncc_st_tensor *y = *(const attncc_st_tensor *const *)b;
    return (x->data > y->data) - (x->data < y->data);
}

/* Duplicate names, then overlapping byte ranges (empty tensors overlap nothing). */
static int st_check_tensor_set(const attncc_st_file *f, st_ctx *c) {
    if (f->ntensors < 2) return 0;
    const attncc_st_tensor **v = malloc((size_t)f->ntensors * sizeof *v);
    if (v == NULL) {
        st_set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < f->ntensors; i++) v[i] = &f->tensors[i];
    qsort(v, (size_t)f->ntensors, sizeof *v, st_cmp_name);
    for (int i = 1; i < f->ntensors && rc == 0; i++) {
        if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
            st_set_err(c->err, c->errlen, "duplicate tensor name '%s'", v[i]->name);
            rc = -1;
        }
    }
    qsort(v, (size_t)f->ntensors, sizeof *v, st_cmp_data);
    const attncc_st_tensor *last = NULL; /* the non-empty tensor reaching furthest so far */
    for (int i = 0; i < f->ntensors && rc == 0; i++) {
        if (v[i]->nbytes == 0) continue;
        if (last != NULL && v[i]->data < last->data + last->nbytes) {
            st_set_err(c->err, c->errlen, "tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap",
                       last->name, (size_t)(last->data - c->payload),
                       (size_t)(last->data - c->payload) + last->nbytes, v[i]->name,
                       (size_t)(v[i]->data - c->payload),
                       (size_t)(v[i]->data - c->payload) + v[i]->nbytes);
            rc = -1;
        }
        if (last == NULL || v[i]->data + v[i]->nbytes > last->data + last->nbytes) last = v[i];
    }
    free(v);
    return rc;
}

static int st_count_tensors(const cJSON *root, int *count, st_ctx *c) {
    int n = 0, nmeta = 0;
    for (const cJSON *e = root->child; e != NULL; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (++nmeta > 1) {
                st_set_err(c->err, c->errlen, "duplicate key \"__metadata__\"");
                return -1;
            }
            if (st_check_metadata(e, c) != 0) return -1;
        } else if (n == INT_MAX) {
            st_set_err(c->err, c->errlen, "too many tensors");
            return -1;
        } else {
            n++;
        }
    }
    *count = n;
    return 0;
}

static int st_parse_entries(attncc_st_file *f, const cJSON *root, st_ctx *c) {
    int n = 0;
    if (st_count_tensors(root, &n, c) != 0) return -1;
    if (n == 0) return 0;
    f->tensors = calloc((size_t)n, sizeof *f->tensors);
    if (f->tensors == NULL) {
        st_set_err(c->err, c->errlen, "out of memory for %d tensors", n);
        return -1;
    }
    for (const cJSON *e = root->child; e != NULL; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        /* counted first so that a failing entry's name is freed by attncc_st_close */
        attncc_st_tensor *t = &f->tensors[f->ntensors++];
        if (st_parse_entry(e, t, c) != 0) return -1;
    }
    return st_check_tensor_set(f, c);
}

static int st_parse_layout(attncc_st_file *f, st_ctx *c) {
    if (f->size < 8) {
        st_set_err(c->err, c->errlen,
                   "file is too short (%zu bytes) to hold the 8-byte header length", f->size);
        return -1;
    }
    uint64_t n = st_load_u64(f->buf);
    if (n > f->size - 8) {
        st_set_err(c->err, c->errlen, "header length %llu is larger than the file (%zu bytes)",
                   (unsigned long long)n, f->size);
        return -1;
    }
    c->payload = f->buf + 8 + n;
    c->payload_len = f->size - 8 - (size_t)n;
    cJSON *root = st_parse_json(f->buf + 8, (size_t)n, c);
    if (root == NULL) return -1;
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        st_set_err(c->err, c->errlen, "header is not a JSON object");
        rc = -1;
    } else {
        rc = st_parse_entries(f, root, c);
    }
    cJSON_Delete(root);
    return rc;
}

/* Takes ownership of buf (malloc'ed, len bytes). */
static int st_parse_owned(attncc_st_file *f, unsigned char *buf, size_t len, char *err,
                          size_t errlen) {
    st_ctx c = {err, errlen, NULL, 0};
    f->buf = buf;
    f->size = len;
    if (st_parse_layout(f, &c) != 0) {
        attncc_st_close(f);
        return -1;
    }
    return 0;
}

int attncc_st_parse(attncc_st_file *f, const void *bytes, size_t len, char *err,
                    size_t errlen) {
    if (f == NULL) return -1;
    memset(f, 0, sizeof *f);
    if (bytes == NULL && len > 0) {
        st_set_err(err, errlen, "no input bytes");
        return -1;
    }
    unsigned char *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        st_set_err(err, errlen, "out of memory copying %zu bytes", len);
        return -1;
    }
    if (len > 0) memcpy(buf, bytes, len);
    return st_parse_owned(f, buf, len, err, errlen);
}

/* ---- file reading ---- */

/* Size of an open file if seeking works, else 0 (a capacity hint, trusted only after a
 * first successful read: directories report odd sizes). */
static size_t st_size_hint(FILE *fp) {
    size_t hint = 0;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long end = ftell(fp);
        if (end > 0 && (unsigned long)end < SIZE_MAX) hint = (size_t)end;
    }
    rewind(fp);
    return hint;
}

/* New capacity once a buffer of cap bytes is full. 0 on overflow. */
static size_t st_grow(size_t cap, size_t hint) {
    if (hint >= cap && hint < SIZE_MAX) return hint + 1;
    size_t grow = cap < ST_READ_CHUNK ? ST_READ_CHUNK : cap;
    return cap <= SIZE_MAX - grow ? cap + grow : 0;
}

/* Reads fp to its end into a malloc'ed buffer. 0 on success, else an errno value. */
static int st_read_all(FILE *fp, unsigned char **out, size_t *len) {
    size_t hint = st_size_hint(fp), cap = ST_FIRST_READ, n = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) return ENOMEM;
    for (;;) {
        if (n == cap) {
            size_t ncap = st_grow(cap, hint);
            unsigned char *nb = ncap != 0 ? realloc(buf, ncap) : NULL;
            if (nb == NULL) {
                free(buf);
                return ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        errno = 0;
        n += fread(buf + n, 1, cap - n, fp);
        if (ferror(fp)) {
            int e = errno != 0 ? errno : EIO;
            free(buf);
            return e;
        }
        if (n < cap && feof(fp)) break;
    }
    *out = buf;
    *len = n;
    return 0;
}

int attncc_st_open(attncc_st_file *f, const char *path, char *err, size_t errlen) {
    if (f == NULL) return -1;
    memset(f, 0, sizeof *f);
    if (path == NULL) {
        st_set_err(err, errlen, "no path given");
        return -1;
    }
    errno = 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        st_set_err(err, errlen, "cannot open '%s': %s", path,
                   strerror(errno != 0 ? errno : ENOENT));
        return -1;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    int e = st_read_all(fp, &buf, &len);
    fclose(fp);
    if (e != 0) {
        st_set_err(err, errlen, "cannot read '%s': %s", path, strerror(e));
        return -1;
    }
    if (len == 0) {
        free(buf);
        st_set_err(err, errlen, "cannot read '%s': the file is empty (0 bytes)", path);
        return -1;
    }
    if (st_parse_owned(f, buf, len, err, errlen) != 0) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err != NULL && errlen > 0 ? err : "");
        st_set_err(err, errlen, "'%s': %s", path, inner);
        return -1;
    }
    return 0;
}

const attncc_st_tensor *attncc_st_find(const attncc_st_file *f, const char *name) {
    if (f == NULL || name == NULL) return NULL;
    for (int i = 0; i < f->ntensors; i++) {
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    }
    return NULL;
}

void attncc_st_close(attncc_st_file *f) {
    if (f == NULL) return;
    for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* ---- conversions ---- */

static float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 is exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return st_bits_to_f32(sign | 0x7f800000u | mant << 13);
    return st_bits_to_f32(sign | (exp + 112u) << 23 | mant << 13);
}

/* Rounds to nearest float; finite values beyond FLT_MAX + half an ulp become inf. */
static float st_f64_to_f32(double d) {
    const double limit = 0x1.ffffffp127; /* FLT_MAX rounds up to inf from here */
    if (d >= limit) return st_bits_to_f32(0x7f800000u);
    if (d <= -limit) return st_bits_to_f32(0xff800000u);
    return (float)d;
}

static double st_load_f64(const unsigned char *p) {
    uint64_t u = st_load_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static float st_elem_to_f32(attncc_st_dtype t, const unsigned char *p) {
    switch (t) {
    case ATTNCC_ST_F32: return st_bits_to_f32(st_load_u32(p));
    case ATTNCC_ST_F16: return st_f16_to_f32(st_load_u16(p));
    case ATTNCC_ST_BF16: return st_bits_to_f32((uint32_t)st_load_u16(p) << 16);
    case ATTNCC_ST_F64: return st_f64_to_f32(st_load_f64(p));
    case ATTNCC_ST_I64: return (float)st_load_i64(p);
    case ATTNCC_ST_I32: return (float)(int32_t)st_load_u32(p);
    case ATTNCC_ST_I16: return (float)(int16_t)st_load_u16(p);
    case ATTNCC_ST_I8: return (float)(int8_t)p[0];
    case ATTNCC_ST_U8: return (float)p[0];
    case ATTNCC_ST_BOOL: return p[0] != 0 ? 1.0f : 0.0f;
    }
    return 0.0f;
}

int attncc_st_to_f32(const attncc_st_tensor *t, float *out) {
    if (t == NULL || !st_valid_dtype(t->dtype) || t->numel < 0) return -1;
    if (t->numel > 0 && (out == NULL || t->data == NULL)) return -1;
    size_t esize = st_dtypes[t->dtype].size;
    if (t->dtype == ATTNCC_ST_F32) {
        if (t->numel > 0) memcpy(out, t->data, (size_t)t->numel * esize);
        return 0;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        out[i] = st_elem_to_f32(t->dtype, t->data + (size_t)i * esize);
    }
    return 0;
}

static bool st_is_int_dtype(attncc_st_dtype t) {
    return t == ATTNCC_ST_I64 || t == ATTNCC_ST_I32 || t == ATTNCC_ST_I16 || t == ATTNCC_ST_I8 ||
           t == ATTNCC_ST_U8 || t == ATTNCC_ST_BOOL;
}

/* One integer element widened to int64; false for float dtypes. */
static bool st_elem_to_i64(attncc_st_dtype t, const unsigned char *p, int64_t *v) {
    switch (t) {
    case ATTNCC_ST_I64: *v = st_load_i64(p); return true;
    case ATTNCC_ST_I32: *v = (int32_t)st_load_u32(p); return true;
    case ATTNCC_ST_I16: *v = (int16_t)st_load_u16(p); return true;
    case ATTNCC_ST_I8: *v = (int8_t)p[0]; return true;
    case ATTNCC_ST_U8: *v = p[0]; return true;
    case ATTNCC_ST_BOOL: *v = p[0] != 0; return true;
    default: return false;
    }
}

int attncc_st_to_i32(const attncc_st_tensor *t, int32_t *out) {
    if (t == NULL || !st_valid_dtype(t->dtype) || t->numel < 0) return -1;
    if (!st_is_int_dtype(t->dtype)) return -1;
    if (t->numel > 0 && (out == NULL || t->data == NULL)) return -1;
    size_t esize = st_dtypes[t->dtype].size;
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t v = 0;
        st_elem_to_i64(t->dtype, t->data + (size_t)i * esize, &v);
        if (v < INT32_MIN || v > INT32_MAX) return -1;
        out[i] = (int32_t)v;
    }
    return 0;
}

/* ---- writer ---- */

/* Checks tensor i of a write request and returns its byte size in *nbytes. */
static int st_check_write_item(int i, const char *const *names, const attncc_st_dtype *dtypes,
                               const int *ndims, const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS],
                               const void *const *datas, size_t *nbytes, char *err,
                               size_t errlen) {
    if (names[i] == NULL || !st_valid_dtype(dtypes[i]) || ndims[i] < 0 ||
        ndims[i] > ATTNCC_ST_MAX_DIMS) {
        st_set_err(err, errlen, "tensor %d: bad name, dtype or ndim", i);
        return -1;
    }
    uint64_t count = st_dtypes[dtypes[i]].size;
    for (int d = 0; d < ndims[i]; d++) {
        int64_t dim = shapes[i][d];
        if (dim < 0 || (dim > 0 && count > (uint64_t)ST_MAX_JSON_INT / (uint64_t)dim)) {
            st_set_err(err, errlen, "tensor '%s': bad or too large shape", names[i]);
            return -1;
        }
        count *= (uint64_t)dim;
    }
    if (count > 0 && datas[i] == NULL) {
        st_set_err(err, errlen, "tensor '%s': no data", names[i]);
        return -1;
    }
    *nbytes = (size_t)count;
    return 0;
}

static cJSON *st_write_entry(attncc_st_dtype dtype, int ndim, const int64_t *shape,
                             uint64_t begin, uint64_t end) {
    cJSON *e = cJSON_CreateObject();
    cJSON *s = cJSON_CreateArray();
    cJSON *o = cJSON_CreateArray();
    if (e == NULL || s == NULL || o == NULL) {
        cJSON_Delete(e);
        cJSON_Delete(s);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(e, "dtype", cJSON_CreateString(st_dtypes[dtype].name));
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(s, cJSON_CreateNumber((double)shape[d]));
    cJSON_AddItemToObject(e, "shape", s);
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(o, cJSON_CreateNumber((double)end));
    cJSON_AddItemToObject(e, "data_offsets", o);
    return e;
}

/* The JSON object describing all tensors, laid out back to back; NULL with err filled. */
static cJSON *st_write_json(int n, const char *const *names, const attncc_st_dtype *dtypes,
                            const int *ndims, const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS],
                            const void *const *datas, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < n && root != NULL; i++) {
        size_t nb = 0;
        if (st_check_write_item(i, names, dtypes, ndims, shapes, datas, &nb, err, errlen) != 0) {
            cJSON_Delete(root);
            return NULL;
        }
        if (off + nb > (uint64_t)ST_MAX_JSON_INT) {
            st_set_err(err, errlen, "tensor '%s': data ends past 2^53 bytes", names[i]);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON *e = st_write_entry(dtypes[i], ndims[i], shapes[i], off, off + nb);
        if (e == NULL || !cJSON_AddItemToObject(root, names[i], e)) {
            cJSON_Delete(e);
            cJSON_Delete(root);
            root = NULL;
        }
        off += nb;
    }
    if (root == NULL) st_set_err(err, errlen, "out of memory building the header");
    return root;
}

/* Header text padded with spaces to a multiple of 8 bytes; NULL with err filled. */
static char *st_write_header(int n, const char *const *names, const attncc_st_dtype *dtypes,
                             const int *ndims, const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS],
                             const void *const *datas, size_t *hlen, char *err,
                             size_t errlen) {
    cJSON *root = st_write_json(n, names, dtypes, ndims, shapes, datas, err, errlen);
    if (root == NULL) return NULL;
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char *padded = NULL;
    if (text != NULL) {
        size_t len = strlen(text), plen = (len + 7) / 8 * 8;
        padded = malloc(plen + 1);
        if (padded != NULL) {
            memcpy(padded, text, len);
            memset(padded + len, ' ', plen - len);
            padded[plen] = '\0';
            *hlen = plen;
        }
        free(text);
    }
    if (padded == NULL) st_set_err(err, errlen, "out of memory building the header");
    return padded;
}

static int st_write_data(FILE *fp, int n, const attncc_st_dtype *dtypes, const int *ndims,
                         const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS], const void *const *datas) {
    for (int i = 0; i < n; i++) {
        size_t nb = st_dtypes[dtypes[i]].size;
        for (int d = 0; d < ndims[i]; d++) nb *= (size_t)shapes[i][d];
        if (nb > 0 && fwrite(datas[i], 1, nb, fp) != nb) return -1;
    }
    return 0;
}

int attncc_st_write(const char *path, int n, const char *const *names,
                    const attncc_st_dtype *dtypes, const int *ndims,
                    const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS], const void *const *datas,
                    char *err, size_t errlen) {
    if (path == NULL || n < 0 ||
        (n > 0 && (!names || !dtypes || !ndims || !shapes || !datas))) {
        st_set_err(err, errlen, "bad arguments to attncc_st_write");
        return -1;
    }
    size_t hlen = 0;
    char *header = st_write_header(n, names, dtypes, ndims, shapes, datas, &hlen, err, errlen);
    if (header == NULL) return -1;
    errno = 0;
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) {
        st_set_err(err, errlen, "cannot create '%s': %s", path, strerror(errno ? errno : EIO));
        free(header);
        return -1;
    }
    unsigned char lenbuf[8];
    st_store_u64(lenbuf, hlen);
    int bad = fwrite(lenbuf, 1, 8, fp) != 8 || fwrite(header, 1, hlen, fp) != hlen ||
              st_write_data(fp, n, dtypes, ndims, shapes, datas) != 0;
    int e = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    free(header);
    if (bad) {
        st_set_err(err, errlen, "cannot write '%s': %s", path, strerror(e ? e : EIO));
        return -1;
    }
    return 0;
}
