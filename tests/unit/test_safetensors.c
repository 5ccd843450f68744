/* test_safetensors.c: cmocka tests of the .safetensors reader/writer: round trips for every
 * dtype, exact F16/BF16/F64 conversions, one test per class of malformed input, file
 * errors, and a mutation sweep that must never crash. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attncc_safetensors.h"

/* ---- helpers ---- */

typedef struct {
    char dir[64];
} tmp_state;

static int tmp_setup(void **state) {
    tmp_state *s = malloc(sizeof *s);
    if (s == NULL) return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/attncc_st_XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int tmp_teardown(void **state) {
    tmp_state *s = *state;
    rmdir(s->dir);
    free(s);
    return 0;
}

static void tmp_path(const tmp_state *s, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", s->dir, name);
}

/* 8-byte header length + header text + payload bytes (0, 1, 2, ...). Caller frees. */
static unsigned char *build_file(const char *header, size_t payload, size_t *len) {
    size_t hl = strlen(header);
    *len = 8 + hl + payload;
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < payload; i++) b[8 + hl + i] = (unsigned char)i;
    return b;
}

static void expect_fail(const char *header, size_t payload, const char *msg) {
    size_t len;
    unsigned char *b = build_file(header, payload, &len);
    attncc_st_file f;
    char err[512] = "";
    int rc = attncc_st_parse(&f, b, len, err, sizeof err);
    if (rc == 0 || strstr(err, msg) == NULL) {
        fail_msg("header %s: rc %d, message \"%s\", expected \"%s\"", header, rc, err, msg);
    }
    assert_null(f.buf);
    assert_null(f.tensors);
    assert_int_equal(f.ntensors, 0);
    attncc_st_close(&f);
    free(b);
}

static void expect_ok(const char *header, size_t payload, attncc_st_file *f) {
    size_t len;
    unsigned char *b = build_file(header, payload, &len);
    char err[512] = "";
    int rc = attncc_st_parse(f, b, len, err, sizeof err);
    free(b);
    if (rc != 0) fail_msg("header %s: %s", header, err);
}

/* Parses bytes written as little-endian u16s into a one-tensor file of the given dtype. */
static void u16_tensor(const char *dtype, const uint16_t *v, int n, attncc_st_file *f) {
    char header[256];
    snprintf(header, sizeof header,
             "{\"t\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[0,%d]}}", dtype, n,
             2 * n);
    size_t hl = strlen(header), len;
    unsigned char *b = build_file(header, 2 * (size_t)n, &len);
    for (int i = 0; i < n; i++) {
        b[8 + hl + 2 * (size_t)i] = (unsigned char)(v[i] & 0xff);
        b[8 + hl + 2 * (size_t)i + 1] = (unsigned char)(v[i] >> 8);
    }
    char err[256];
    int rc = attncc_st_parse(f, b, len, err, sizeof err);
    free(b);
    if (rc != 0) fail_msg("%s", err);
}

/* ---- round trips ---- */

static void test_roundtrip_all_dtypes(void **state) {
    char path[128];
    tmp_path(*state, "all.safetensors", path, sizeof path);
    static const float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-3f, -7.0f};
    static const uint16_t f16[3] = {0x3C00, 0xC100, 0x7BFF};
    static const uint16_t bf16[2] = {0x3F80, 0xC020};
    static const double f64[2] = {0.5, -1e10};
    static const int64_t i64[3] = {-5, 1LL << 40, 7};
    static const int32_t i32[4] = {INT32_MIN, -1, 0, INT32_MAX};
    static const int16_t i16[2] = {-32768, 32767};
    static const int8_t i8[3] = {-128, 0, 127};
    static const uint8_t u8[2] = {0, 255};
    static const uint8_t bl[3] = {1, 0, 1};
    static const float scalar = 42.0f;
    enum { N = 12 };
    const char *const names[N] = {"f32", "f16", "bf16", "f64", "i64", "i32",
                                  "i16", "i8",  "u8",   "bool", "scalar", "empty"};
    const attncc_st_dtype dtypes[N] = {ATTNCC_ST_F32, ATTNCC_ST_F16, ATTNCC_ST_BF16,
                                       ATTNCC_ST_F64, ATTNCC_ST_I64, ATTNCC_ST_I32,
                                       ATTNCC_ST_I16, ATTNCC_ST_I8,  ATTNCC_ST_U8,
                                       ATTNCC_ST_BOOL, ATTNCC_ST_F32, ATTNCC_ST_I32};
    const int ndims[N] = {2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 0, 2};
    static const int64_t shapes[N][8] = {{2, 3}, {3}, {2}, {2}, {3}, {2, 2},
                                         {2},    {3}, {2}, {3}, {0}, {4, 0}};
    const void *const datas[N] = {f32, f16, bf16, f64, i64, i32, i16, i8, u8, bl, &scalar, NULL};
    const size_t sizes[N] = {sizeof f32, sizeof f16, sizeof bf16, sizeof f64, sizeof i64,
                             sizeof i32, sizeof i16, sizeof i8,   sizeof u8,  sizeof bl,
                             sizeof scalar, 0};
    char err[256] = "";
    if (attncc_st_write(path, N, names, dtypes, ndims, shapes, datas, err, sizeof err) != 0) {
        fail_msg("write: %s", err);
    }
    attncc_st_file f;
    if (attncc_st_open(&f, path, err, sizeof err) != 0) fail_msg("open: %s", err);
    assert_int_equal(f.ntensors, N);
    for (int i = 0; i < N; i++) {
        const attncc_st_tensor *t = attncc_st_find(&f, names[i]);
        assert_non_null(t);
        assert_ptr_equal(t, &f.tensors[i]);
        assert_int_equal(t->dtype, dtypes[i]);
        assert_int_equal(t->ndim, ndims[i]);
        for (int d = 0; d < ndims[i]; d++) assert_int_equal(t->shape[d], shapes[i][d]);
        assert_int_equal(t->nbytes, sizes[i]);
        assert_int_equal(t->numel * (int64_t)attncc_st_dtype_size(t->dtype), (int64_t)sizes[i]);
        if (sizes[i] > 0) assert_memory_equal(t->data, datas[i], sizes[i]);
    }
    assert_null(attncc_st_find(&f, "nope"));

    float out[6];
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "f32"), out), 0);
    assert_memory_equal(out, f32, sizeof f32);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "f16"), out), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.5f && out[2] == 65504.0f);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "i16"), out), 0);
    assert_true(out[0] == -32768.0f && out[1] == 32767.0f);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "u8"), out), 0);
    assert_true(out[0] == 0.0f && out[1] == 255.0f);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "bool"), out), 0);
    assert_true(out[0] == 1.0f && out[1] == 0.0f && out[2] == 1.0f);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "scalar"), out), 0);
    assert_true(out[0] == 42.0f);
    assert_int_equal(attncc_st_to_f32(attncc_st_find(&f, "empty"), NULL), 0);

    int32_t iv[4];
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "i32"), iv), 0);
    assert_memory_equal(iv, i32, sizeof i32);
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "i8"), iv), 0);
    assert_true(iv[0] == -128 && iv[1] == 0 && iv[2] == 127);
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "bool"), iv), 0);
    assert_true(iv[0] == 1 && iv[1] == 0 && iv[2] == 1);
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "i64"), iv), -1); /* 2^40 */
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "f32"), iv), -1);
    assert_int_equal(attncc_st_to_i32(attncc_st_find(&f, "f16"), iv), -1);
    attncc_st_close(&f);
    attncc_st_close(&f); /* idempotent */
    assert_int_equal(remove(path), 0);
}

static void test_write_rejects_bad_input(void **state) {
    char path[128], err[256] = "";
    tmp_path(*state, "bad.safetensors", path, sizeof path);
    const char *const names[1] = {"w"};
    const attncc_st_dtype dt[1] = {ATTNCC_ST_F32};
    const int nd[1] = {9};
    static const int64_t sh[1][8] = {{1}};
    const void *const da[1] = {NULL};
    assert_int_equal(attncc_st_write(path, 1, names, dt, nd, sh, da, err, sizeof err), -1);
    assert_non_null(strstr(err, "ndim"));
    const int nd1[1] = {1};
    assert_int_equal(attncc_st_write(path, 1, names, dt, nd1, sh, da, err, sizeof err), -1);
    assert_non_null(strstr(err, "no data"));
    assert_int_equal(attncc_st_write("/nonexistent_dir_attncc/x", 0, NULL, NULL, NULL, NULL, NULL,
                                     err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "No such file or directory"));
}

static void test_parse_valid_edge_cases(void **state) {
    (void)state;
    attncc_st_file f;
    expect_ok("{}", 0, &f);
    assert_int_equal(f.ntensors, 0);
    attncc_st_close(&f);
    expect_ok("{\"__metadata__\":{\"format\":\"pt\"}}   ", 5, &f);
    assert_int_equal(f.ntensors, 0);
    attncc_st_close(&f);
    /* empty tensor at an offset inside another tensor, unaligned data, spare payload */
    expect_ok("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
              "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
              "\"s\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[9,10]}}",
              16, &f);
    assert_int_equal(f.ntensors, 3);
    assert_int_equal(f.tensors[1].numel, 0);
    assert_int_equal(f.tensors[2].ndim, 0);
    assert_int_equal(f.tensors[2].numel, 1);
    float v[2];
    assert_int_equal(attncc_st_to_f32(&f.tensors[0], v), 0); /* unaligned: UBSan must agree */
    attncc_st_close(&f);
}

/* ---- conversions ---- */

static void test_f16_values(void **state) {
    (void)state;
    static const uint16_t v[] = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF,
                                 0x0400, 0x7C00, 0xFC00, 0x7E00, 0x8000};
    enum { N = sizeof v / sizeof v[0] };
    attncc_st_file f;
    u16_tensor("F16", v, N, &f);
    float out[N];
    assert_int_equal(attncc_st_to_f32(&f.tensors[0], out), 0);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == -2.5f);
    assert_true(out[2] == 65504.0f);
    assert_true(out[3] == 0x1p-24f); /* smallest subnormal */
    assert_true(out[4] == 0x3ffp-24f); /* largest subnormal */
    assert_true(out[5] == 0x1p-14f); /* smallest normal */
    assert_true(isinf(out[6]) && out[6] > 0);
    assert_true(isinf(out[7]) && out[7] < 0);
    assert_true(isnan(out[8]));
    assert_true(out[9] == 0.0f && signbit(out[9]));
    attncc_st_close(&f);
}

static void test_bf16_values(void **state) {
    (void)state;
    static const uint16_t v[] = {0x3F80, 0xC020, 0x477F, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
    enum { N = sizeof v / sizeof v[0] };
    attncc_st_file f;
    u16_tensor("BF16", v, N, &f);
    float out[N];
    assert_int_equal(attncc_st_to_f32(&f.tensors[0], out), 0);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == -2.5f);
    assert_true(out[2] == 65280.0f);
    assert_true(out[3] == 0x1p-133f); /* subnormal */
    assert_true(isinf(out[4]) && out[4] > 0);
    assert_true(isinf(out[5]) && out[5] < 0);
    assert_true(isnan(out[6]));
    assert_true(out[7] == 0.0f && signbit(out[7]));
    attncc_st_close(&f);
}

static void test_f64_and_int_limits(void **state) {
    char path[128], err[256];
    tmp_path(*state, "lim.safetensors", path, sizeof path);
    static const double d[6] = {0.1, 1e300, -1e300, (double)FLT_MAX, 0x1.ffffffp127, 1e-50};
    static const int64_t big[2] = {INT32_MIN, (int64_t)INT32_MAX + 1};
    const char *const names[2] = {"d", "big"};
    const attncc_st_dtype dt[2] = {ATTNCC_ST_F64, ATTNCC_ST_I64};
    const int nd[2] = {1, 1};
    static const int64_t sh[2][8] = {{6}, {2}};
    const void *const da[2] = {d, big};
    assert_int_equal(attncc_st_write(path, 2, names, dt, nd, sh, da, err, sizeof err), 0);
    attncc_st_file f;
    assert_int_equal(attncc_st_open(&f, path, err, sizeof err), 0);
    float out[6];
    assert_int_equal(attncc_st_to_f32(&f.tensors[0], out), 0);
    assert_true(out[0] == 0.1f);
    assert_true(isinf(out[1]) && out[1] > 0);
    assert_true(isinf(out[2]) && out[2] < 0);
    assert_true(out[3] == FLT_MAX);
    assert_true(isinf(out[4]));
    assert_true(out[5] == 0.0f);
    int32_t iv[2];
    assert_int_equal(attncc_st_to_i32(&f.tensors[1], iv), -1);
    assert_int_equal(attncc_st_to_f32(&f.tensors[1], out), 0);
    assert_true(out[0] == -2147483648.0f && out[1] == 2147483648.0f);
    assert_string_equal(attncc_st_dtype_name(ATTNCC_ST_BF16), "BF16");
    assert_string_equal(attncc_st_dtype_name((attncc_st_dtype)99), "?");
    attncc_st_close(&f);
    remove(path);
}

/* ---- malformed input, one test per class ---- */

static void test_too_short(void **state) {
    (void)state;
    attncc_st_file f;
    char err[256] = "";
    assert_int_equal(attncc_st_parse(&f, "\x02\0\0", 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "too short (3 bytes)"));
    assert_int_equal(attncc_st_parse(&f, NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "too short (0 bytes)"));
}

static void test_header_len_larger_than_file(void **state) {
    (void)state;
    unsigned char b[200] = {0};
    b[0] = 123456 & 0xff;
    b[1] = (123456 >> 8) & 0xff;
    b[2] = 123456 >> 16;
    attncc_st_file f;
    char err[256] = "";
    assert_int_equal(attncc_st_parse(&f, b, sizeof b, err, sizeof err), -1);
    assert_string_equal(err, "header length 123456 is larger than the file (200 bytes)");
    memset(b, 0xff, 8); /* 2^64 - 1 must not wrap */
    assert_int_equal(attncc_st_parse(&f, b, sizeof b, err, sizeof err), -1);
    assert_non_null(strstr(err, "header length 18446744073709551615 is larger"));
}

static void test_header_not_json(void **state) {
    (void)state;
    expect_fail("{\"w\": {", 0, "header is not valid JSON");
    expect_fail("", 0, "header is not valid JSON");
    expect_fail("not json", 0, "header is not valid JSON");
    expect_fail("{} x", 0, "trailing data after the JSON object");
}

static void test_header_not_object(void **state) {
    (void)state;
    expect_fail("[1, 2]", 0, "header is not a JSON object");
    expect_fail("\"str\"", 0, "header is not a JSON object");
    expect_fail("12", 0, "header is not a JSON object");
}

static void test_entry_not_object(void **state) {
    (void)state;
    expect_fail("{\"w\": 5}", 0, "tensor 'w': entry is not an object");
    expect_fail("{\"w\": [\"F32\"]}", 0, "tensor 'w': entry is not an object");
}

static void test_missing_fields(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': missing \"dtype\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': missing \"shape\"");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                "tensor 'w': missing \"data_offsets\"");
}

static void test_ill_typed_fields(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': \"dtype\" is not a string");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': \"shape\" is not an array");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': shape[0] is not a non-negative integer");
    static const char *const offs[] = {"4", "[0]", "[0,4,8]", "[\"0\",4]", "[0,null]", "[-4,4]",
                                       "[0.5,4]", "[0,1e300]", "{}"};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        char h[256];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":%s}}",
                 offs[i]);
        expect_fail(h, 4, "tensor 'w': \"data_offsets\" is not an array of 2 non-negative integers");
    }
}

static void test_unknown_dtype(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                "tensor 'w': unknown or unsupported dtype 'F8_E4M3'");
    expect_fail("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                "unknown or unsupported dtype 'f32'");
}

static void test_bad_dims(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': shape[1] is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': shape[0] is not a non-negative integer");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,4]}}", 4,
                "tensor 'w': shape[0] is not a non-negative integer");
}

static void test_too_many_dims(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                4, "tensor 'w': shape has 9 dims, at most 8 are supported");
    attncc_st_file f; /* 8 is fine */
    expect_ok("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
              &f);
    assert_int_equal(f.tensors[0].ndim, 8);
    attncc_st_close(&f);
}

static void test_numel_overflow(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496],"
                "\"data_offsets\":[0,4]}}",
                4, "tensor 'w': element count of shape [4503599627370496,4503599627370496] overflows");
    /* numel fits in int64 but the byte count does not */
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],"
                "\"data_offsets\":[0,8]}}",
                8, "overflows");
    /* a zero dim makes the product 0 whatever the rest */
    attncc_st_file f;
    expect_ok("{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496,0],"
              "\"data_offsets\":[0,0]}}",
              0, &f);
    assert_int_equal(f.tensors[0].numel, 0);
    attncc_st_close(&f);
}

static void test_offsets_out_of_range(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8,
                "tensor 'w': data_offsets [4, 12] go past the end of the data (8 bytes)");
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}}", 8,
                "go past the end of the data");
}

static void test_begin_after_end(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
                "tensor 'w': data_offsets [8, 4] begin after end");
}

static void test_size_mismatch(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,10]}}", 32,
                "tensor 'w': data_offsets [0, 10] do not match F32 shape [2,3] (24 bytes)");
    expect_fail("{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,0]}}", 32,
                "tensor 's': data_offsets [0, 0] do not match BF16 shape [] (2 bytes)");
}

static void test_overlap(void **state) {
    (void)state;
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[16,40]}}",
                40, "tensors 'a' [0, 24] and 'b' [16, 40] overlap");
    /* same range, and a small tensor inside a big one listed later */
    expect_fail("{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                4, "overlap");
    expect_fail("{\"s\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[30,31]},"
                "\"big\":{\"dtype\":\"I8\",\"shape\":[40],\"data_offsets\":[0,40]},"
                "\"c\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[5,7]}}",
                40, "overlap");
}

static void test_duplicate_names(void **state) {
    (void)state;
    expect_fail("{\"w\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"w\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, "duplicate tensor name 'w'");
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key \"__metadata__\"");
}

static void test_bad_metadata(void **state) {
    (void)state;
    expect_fail("{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object");
    expect_fail("{\"__metadata__\":{\"format\":1}}", 0,
                "\"__metadata__\" entry 'format' is not a string");
}

/* ---- files ---- */

static void test_open_errors(void **state) {
    tmp_state *s = *state;
    char path[128], err[512] = "";
    attncc_st_file f;
    tmp_path(s, "missing.safetensors", path, sizeof path);
    assert_int_equal(attncc_st_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(attncc_st_open(&f, s->dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "Is a directory"));
    tmp_path(s, "empty.safetensors", path, sizeof path);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(attncc_st_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("\x10\0\0\0\0\0\0\0{}", 1, 10, fp), 10);
    fclose(fp);
    assert_int_equal(attncc_st_open(&f, path, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "header length 16 is larger than the file (10 bytes)"));
    assert_int_equal(attncc_st_open(&f, path, NULL, 0), -1); /* no buffer is fine */
    remove(path);
}

/* Every truncation and many random byte mutations of a valid file: no crash, no leak. */
static void test_mutations_never_crash(void **state) {
    (void)state;
    size_t len;
    unsigned char *good = build_file(
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]},"
        "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[16,18]}}",
        18, &len);
    unsigned char *b = malloc(len);
    assert_non_null(b);
    char err[128];
    attncc_st_file f;
    assert_int_equal(attncc_st_parse(&f, good, len, err, sizeof err), 0);
    attncc_st_close(&f);
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(attncc_st_parse(&f, good, n, err, sizeof err), -1);
    }
    static const unsigned char special[] = {'"', '{', '}', '[', ']', ',', ':', '-', '9', 0, 0xff};
    uint32_t rng = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(b, good, len);
        int nmut = 1 + iter % 3;
        for (int m = 0; m < nmut; m++) {
            rng = rng * 1103515245u + 12345u;
            size_t pos = (rng >> 8) % len;
            rng = rng * 1103515245u + 12345u;
            b[pos] = (rng >> 16) & 1 ? special[(rng >> 8) % sizeof special]
                                      : (unsigned char)(rng >> 20);
        }
        if (attncc_st_parse(&f, b, len, err, sizeof err) == 0) {
            float out[8];
            for (int i = 0; i < f.ntensors; i++) {
                const attncc_st_tensor *t = &f.tensors[i];
                assert_true(t->data >= f.buf && t->data + t->nbytes <= f.buf + f.size);
                if (t->numel <= 8) attncc_st_to_f32(t, out);
            }
            attncc_st_close(&f);
        }
    }
    free(b);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_all_dtypes, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_write_rejects_bad_input, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_parse_valid_edge_cases),
        cmocka_unit_test(test_f16_values),
        cmocka_unit_test(test_bf16_values),
        cmocka_unit_test_setup_teardown(test_f64_and_int_limits, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_too_short),
        cmocka_unit_test(test_header_len_larger_than_file),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_header_not_object),
        cmocka_unit_test(test_entry_not_object),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_ill_typed_fields),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_bad_dims),
        cmocka_unit_test(test_too_many_dims),
        cmocka_unit_test(test_numel_overflow),
        cmocka_unit_test(test_offsets_out_of_range),
        cmocka_unit_test(test_begin_after_end),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test_setup_teardown(test_open_errors, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
