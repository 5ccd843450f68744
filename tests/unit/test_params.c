/* test_params.c: cmocka tests of attncc_load_params / attncc_match_params /
 * attncc_closest_name: loading into a params struct, missing/unused/mis-shaped tensors
 * with did-you-mean hints, and the ignore list. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attncc_params.h"

typedef struct {
    const float *w;
    const float *b;
    const float *scale;
} small_params;

static const attncc_param_info small_info[3] = {
    {"w", 2, {2, 3}, offsetof(small_params, w)},
    {"b", 1, {3}, offsetof(small_params, b)},
    {"scale", 0, {0}, offsetof(small_params, scale)},
};

typedef struct {
    char dir[64];
    char path[128];
} tmp_state;

static int tmp_setup(void **state) {
    tmp_state *s = calloc(1, sizeof *s);
    if (s == NULL) return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/attncc_pm_XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return -1;
    }
    snprintf(s->path, sizeof s->path, "%s/model.safetensors", s->dir);
    *state = s;
    return 0;
}

static int tmp_teardown(void **state) {
    tmp_state *s = *state;
    remove(s->path);
    rmdir(s->dir);
    free(s);
    return 0;
}

static const float w_data[6] = {1, 2, 3, 4, 5, 6};
static const uint16_t b_f16[3] = {0x3C00, 0xC100, 0x7BFF}; /* 1, -2.5, 65504 */
static const float scale_data[1] = {0.125f};

/* Writes w (F32 [2,3] unless w_shape given), b (F16 [3]), scale (F32 []) and optional extras
 * (I8 [1] each) with the given names. */
static void write_model(const char *path, const char *w_name, const int64_t *w_shape,
                        const char *const *extra, int nextra) {
    enum { MAX = 8 };
    const char *names[MAX] = {w_name, "b", "scale"};
    attncc_st_dtype dt[MAX] = {ATTNCC_ST_F32, ATTNCC_ST_F16, ATTNCC_ST_F32};
    int nd[MAX] = {2, 1, 0};
    int64_t sh[MAX][8] = {{2, 3}, {3}, {0}};
    const void *da[MAX] = {w_data, b_f16, scale_data};
    static const int8_t one = 1;
    if (w_shape != NULL) memcpy(sh[0], w_shape, 2 * sizeof *w_shape);
    assert_true(3 + nextra <= MAX);
    for (int i = 0; i < nextra; i++) {
        names[3 + i] = extra[i];
        dt[3 + i] = ATTNCC_ST_I8;
        nd[3 + i] = 1;
        sh[3 + i][0] = 1;
        da[3 + i] = &one;
    }
    char err[256] = "";
    if (attncc_st_write(path, 3 + nextra, names, dt, nd, (const int64_t(*)[8])sh, da, err,
                        sizeof err) != 0) {
        fail_msg("write: %s", err);
    }
}

/* Loads must fail with msg in the error, leaving the struct and *storage untouched/NULL. */
static void expect_load_fail(const char *path, const attncc_param_info *info, int n,
                             const char *msg) {
    small_params p = {NULL, NULL, NULL};
    float *storage = (float *)&p; /* any non-NULL value: must be reset */
    char err[512] = "";
    int rc = attncc_load_params(path, info, n, NULL, &p, &storage, err, sizeof err);
    if (rc == 0 || strstr(err, msg) == NULL) {
        fail_msg("rc %d, message \"%s\", expected \"%s\"", rc, err, msg);
    }
    assert_null(storage);
    assert_null(p.w);
    assert_null(p.b);
    assert_null(p.scale);
}

static void test_load_success(void **state) {
    tmp_state *s = *state;
    write_model(s->path, "w", NULL, NULL, 0);
    small_params p = {NULL, NULL, NULL};
    float *storage = NULL;
    char err[256] = "";
    if (attncc_load_params(s->path, small_info, 3, NULL, &p, &storage, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
    assert_non_null(storage);
    assert_ptr_equal(p.w, storage);
    assert_memory_equal(p.w, w_data, sizeof w_data);
    assert_true(p.b[0] == 1.0f && p.b[1] == -2.5f && p.b[2] == 65504.0f);
    assert_true(p.scale[0] == 0.125f);
    assert_int_equal((uintptr_t)p.w % 64, 0);
    assert_int_equal((uintptr_t)p.b % 64, 0);
    assert_int_equal((uintptr_t)p.scale % 64, 0);
    assert_true(p.b >= p.w + 6 && p.scale >= p.b + 3);
    free(storage);
}

static void test_load_no_params(void **state) {
    tmp_state *s = *state;
    write_model(s->path, "w", NULL, NULL, 0);
    float *storage = NULL;
    char err[256] = "";
    /* every file tensor is unused */
    assert_int_equal(attncc_load_params(s->path, NULL, 0, NULL, NULL, &storage, err, sizeof err), -1);
    assert_non_null(strstr(err, "unused tensor 'w'"));
    assert_null(storage);
}

static void test_missing_with_suggestion(void **state) {
    tmp_state *s = *state;
    const attncc_param_info info[3] = {
        {"layers.0.attn.q.weight", 2, {2, 3}, offsetof(small_params, w)},
        {"b", 1, {3}, offsetof(small_params, b)},
        {"scale", 0, {0}, offsetof(small_params, scale)},
    };
    write_model(s->path, "layers.0.atn.q.weight", NULL, NULL, 0);
    expect_load_fail(s->path, info, 3,
                     "missing tensor 'layers.0.attn.q.weight' "
                     "(did you mean 'layers.0.atn.q.weight'?)");
    char err[512];
    small_params p;
    float *storage;
    assert_int_equal(attncc_load_params(s->path, info, 3, NULL, &p, &storage, err, sizeof err), -1);
    assert_non_null(strstr(err, s->path)); /* names the file */
}

static void test_missing_without_suggestion(void **state) {
    tmp_state *s = *state;
    write_model(s->path, "completely.different", NULL, NULL, 0);
    char err[512] = "";
    small_params p;
    float *storage;
    assert_int_equal(attncc_load_params(s->path, small_info, 3, NULL, &p, &storage, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "missing tensor 'w'"));
    assert_null(strstr(err, "did you mean"));
}

static void test_suggestion_skips_used_names(void **state) {
    tmp_state *s = *state;
    /* 'w' is missing; 'b' is close but is a parameter itself, 'ww' is the real typo */
    const char *const extra[1] = {"ww"};
    write_model(s->path, "w_other_name_far_away", NULL, extra, 1);
    attncc_st_file f;
    char err[512] = "";
    assert_int_equal(attncc_st_open(&f, s->path, err, sizeof err), 0);
    assert_int_equal(attncc_match_params(&f, small_info, 3, NULL, err, sizeof err), -1);
    assert_string_equal(err, "missing tensor 'w' (did you mean 'ww'?)");
    attncc_st_close(&f);
}

static void test_unused_tensor(void **state) {
    tmp_state *s = *state;
    const char *const extra[2] = {"wx", "x"};
    write_model(s->path, "w", NULL, extra, 1);
    expect_load_fail(s->path, small_info, 3, "unused tensor 'wx' (did you mean 'w'?)");
    write_model(s->path, "w", NULL, extra + 1, 1);
    expect_load_fail(s->path, small_info, 3, "unused tensor 'x'");
}

static void test_wrong_shape(void **state) {
    tmp_state *s = *state;
    static const int64_t shape[2] = {3, 2};
    write_model(s->path, "w", shape, NULL, 0);
    expect_load_fail(s->path, small_info, 3, "tensor 'w' has shape [3,2], expected [2,3]");
    const attncc_param_info scalar_info[3] = {
        small_info[0], small_info[1], {"scale", 1, {1}, offsetof(small_params, scale)}};
    write_model(s->path, "w", NULL, NULL, 0);
    expect_load_fail(s->path, scalar_info, 3, "tensor 'scale' has shape [], expected [1]");
}

static void test_ignore_list(void **state) {
    tmp_state *s = *state;
    const char *const extra[2] = {"bn.num_batches_tracked", "rope.cache"};
    write_model(s->path, "w", NULL, extra, 2);
    attncc_st_file f;
    char err[512] = "";
    assert_int_equal(attncc_st_open(&f, s->path, err, sizeof err), 0);
    assert_int_equal(attncc_match_params(&f, small_info, 3, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "unused tensor 'bn.num_batches_tracked'"));
    const char *const some[] = {"rope.cache", NULL};
    assert_int_equal(attncc_match_params(&f, small_info, 3, some, err, sizeof err), -1);
    assert_non_null(strstr(err, "unused tensor 'bn.num_batches_tracked'"));
    const char *const all[] = {"rope.cache", "bn.num_batches_tracked", NULL};
    assert_int_equal(attncc_match_params(&f, small_info, 3, all, err, sizeof err), 0);
    attncc_st_close(&f);
}

static void test_bad_file_and_info(void **state) {
    tmp_state *s = *state;
    expect_load_fail(s->path, small_info, 3, "No such file or directory");
    FILE *fp = fopen(s->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("\x02\0\0\0\0\0\0\0[]", 1, 10, fp), 10);
    fclose(fp);
    expect_load_fail(s->path, small_info, 3, "header is not a JSON object");
    write_model(s->path, "w", NULL, NULL, 0);
    const attncc_param_info twice[2] = {small_info[1], small_info[1]};
    expect_load_fail(s->path, twice, 2, "parameter 'b' is listed twice");
    const attncc_param_info bad[1] = {{"w", 9, {0}, 0}};
    expect_load_fail(s->path, bad, 1, "bad ndim");
}

static void test_closest_name(void **state) {
    (void)state;
    const char *const c[] = {"layers.0.attn.k.weight", "layers.0.atn.q.weight", NULL, "x"};
    assert_int_equal(attncc_closest_name("layers.0.attn.q.weight", c, 4), 0); /* tie: first */
    assert_int_equal(attncc_closest_name("layers.0.atn.q.weight", c, 4), 1);  /* exact */
    assert_int_equal(attncc_closest_name("y", c, 4), 3);
    assert_int_equal(attncc_closest_name("embedding.weight", c, 4), -1);
    assert_int_equal(attncc_closest_name("x", c, 0), -1);
    assert_int_equal(attncc_closest_name("x", NULL, 3), -1);
    /* threshold: max(2, len/4) */
    const char *const d[] = {"abcdefgh"};
    assert_int_equal(attncc_closest_name("abcdefXY", d, 1), 0);  /* 2 edits, len 8 */
    assert_int_equal(attncc_closest_name("abcdeXYZ", d, 1), -1); /* 3 edits */
    const char *const e[] = {"abcdefghijklmnop"};
    assert_int_equal(attncc_closest_name("abcdefghijklXYZW", e, 1), 0); /* 4 <= 16/4 */
    assert_int_equal(attncc_closest_name("abcdefghijkVXYZW", e, 1), -1);
    assert_int_equal(attncc_closest_name("abcdefghijklmnopqrst", e, 1), 0); /* 4 inserts */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_success, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_no_params, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_missing_with_suggestion, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_missing_without_suggestion, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_suggestion_skips_used_names, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_unused_tensor, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_shape, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_ignore_list, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_bad_file_and_info, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_closest_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
