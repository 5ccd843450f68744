/* attncc_safetensors.h: a validating reader (and a small writer) for .safetensors
 * files. Files come from untrusted downloads: every malformed input is rejected with
 * a message in the caller's buffer, never a crash. Shared by the compiler and by
 * generated models. */
#ifndef ATTNCC_SAFETENSORS_H
#define ATTNCC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ATTNCC_ST_MAX_DIMS 8

typedef enum {
    ATTNCC_ST_F32,
    ATTNCC_ST_F16,
    ATTNCC_ST_BF16,
    ATTNCC_ST_F64,
    ATTNCC_ST_I64,
    ATTNCC_ST_I32,
    ATTNCC_ST_I16,
    ATTNCC_ST_I8,
    ATTNCC_ST_U8,
    ATTNCC_ST_BOOL
} attncc_st_dtype;

typedef struct {
    char *name;
    attncc_st_dtype dtype;
    int ndim;
    int64_t shape[ATTNCC_ST_MAX_DIMS];
    int64_t numel;
    const unsigned char *data; /* inside attncc_st_file.buf; may be unaligned */
    size_t nbytes;             /* numel * dtype size */
} attncc_st_tensor;

typedef struct {
    unsigned char *buf; /* the whole file */
    size_t size;
    attncc_st_tensor *tensors; /* in header order */
    int ntensors;
} attncc_st_file;

/* Parses a copy of bytes[0..len-1]. 0 on success; -1 with err filled and *f empty. */
int attncc_st_parse(attncc_st_file *f, const void *bytes, size_t len, char *err, size_t errlen);

/* Reads and parses the file at path. 0 on success; -1 with err filled and *f empty. */
int attncc_st_open(attncc_st_file *f, const char *path, char *err, size_t errlen);

/* The tensor called name, or NULL. */
const attncc_st_tensor *attncc_st_find(const attncc_st_file *f, const char *name);

/* "F32", "F16", ...; "?" for a value outside the enum. */
const char *attncc_st_dtype_name(attncc_st_dtype t);

/* Bytes per element; 0 for a value outside the enum. */
size_t attncc_st_dtype_size(attncc_st_dtype t);

/* Converts all t->numel elements into out: floats exactly as IEEE (F16/BF16 subnormals,
 * inf, nan; F64 rounds to nearest, overflowing to inf), integers by value, bool as 0/1.
 * 0 on success, -1 on bad arguments. */
int attncc_st_to_f32(const attncc_st_tensor *t, float *out);

/* Converts integer/bool tensors into out. -1 when t is a float dtype or a value does not
 * fit in int32 (out may then be partly written). */
int attncc_st_to_i32(const attncc_st_tensor *t, int32_t *out);

/* Frees everything and leaves *f empty. Safe on an empty or failed file. */
void attncc_st_close(attncc_st_file *f);

/* Writes n tensors to path; tensor i has names[i], dtypes[i], shape shapes[i][0..ndims[i]-1]
 * and numel * dtype size bytes at datas[i] (may be NULL when that is 0).
 * 0 on success, -1 with err filled. */
int attncc_st_write(const char *path, int n, const char *const *names,
                    const attncc_st_dtype *dtypes, const int *ndims,
                    const int64_t (*shapes)[ATTNCC_ST_MAX_DIMS], const void *const *datas,
                    char *err, size_t errlen);

#endif /* ATTNCC_SAFETENSORS_H */
