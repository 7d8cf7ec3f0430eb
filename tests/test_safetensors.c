/*
 * test_safetensors.c - model files (src/io/safetensors_*.c): round trips of random architectures
 * (bitwise), the byte layout checked by hand against the safetensors spec, a corpus of
 * malformed files written into a temporary directory (each must fail with a one-line message
 * naming the file and the defect, leaving the model zeroed), dtype conversion, PyTorch-style
 * files without metadata, and saves that fail without touching an existing file.
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

static void path_in(char *out, size_t n, const char *name)
{
    int k = snprintf(out, n, "%s/%s", g_dir, name);
    assert_true(k > 0 && (size_t)k < n);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* A safetensors file: the length field hlen_field (normally strlen(header)), the header
 * bytes (hlen of them), then data. */
static void write_raw(const char *path, uint64_t hlen_field, const char *header, size_t hlen,
                      const void *data, size_t dlen)
{
    size_t n = 8 + hlen + dlen;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    put_le64(buf, hlen_field);
    memcpy(buf + 8, header, hlen);
    if (dlen)
        memcpy(buf + 8 + hlen, data, dlen);
    write_bytes(path, buf, n);
    free(buf);
}

/* Data of nfloat little-endian float32 values, each `fill`, plus extra zero bytes. */
static unsigned char *float_data(size_t nfloat, float fill, size_t extra)
{
    unsigned char *d = calloc(nfloat * 4 + extra + 1, 1);
    assert_non_null(d);
    for (size_t i = 0; i < nfloat; i++)
        put_le32(d + 4 * i, float_bits(fill));
    return d;
}

static void write_st(const char *path, const char *header, const void *data, size_t dlen)
{
    write_raw(path, strlen(header), header, strlen(header), data, dlen);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

/* Loads path; asserts failure, a one-line message starting with the path and containing each
 * of the NULL-terminated words, and a zeroed model. */
static void expect_fail_path(const char *path, const char *acts, const char *const *words)
{
    bnn_model m;
    bnn_error e;
    memset(&m, 0xAB, sizeof m);
    memset(&e, 0, sizeof e);
    int rc = bnn_model_load(&m, path, acts, &e);
    if (rc != -1) {
        print_error("%s: loaded, but should have failed\n", path);
        bnn_model_free(&m);
        fail();
    }
    if (strncmp(e.msg, path, strlen(path)) != 0 || strchr(e.msg, '\n')) {
        print_error("message does not start with the path or spans lines: '%s'\n", e.msg);
        fail();
    }
    for (const char *const *w = words; *w; w++)
        if (!strstr(e.msg, *w)) {
            print_error("message '%s' lacks '%s'\n", e.msg, *w);
            fail();
        }
    assert_true(all_zero(&m, sizeof m));
}

#define EXPECT_FAIL(path, acts, ...)                                                          \
    do {                                                                                      \
        const char *const words_[] = {__VA_ARGS__, NULL};                                     \
        expect_fail_path(path, acts, words_);                                                 \
    } while (0)

static void load_ok(bnn_model *m, const char *path, const char *acts)
{
    bnn_error e;
    memset(&e, 0, sizeof e);
    int rc = bnn_model_load(m, path, acts, &e);
    if (rc != 0) {
        print_error("%s: load failed: %s\n", path, e.msg);
        fail();
    }
}

static void save_ok(const bnn_model *m, const char *path)
{
    bnn_error e;
    memset(&e, 0, sizeof e);
    if (bnn_model_save(m, path, &e) != 0) {
        print_error("%s: save failed: %s\n", path, e.msg);
        fail();
    }
}

/* Random finite float: mostly arbitrary bit patterns (every exponent), some special values. */
static float random_float(bnn_rng *r)
{
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, FLT_MAX, -FLT_MAX, FLT_MIN,
                                    1e-45f /* smallest subnormal */, -3e-40f, 0.5f};
    uint64_t x = bnn_rng_next(r);
    if ((x & 7) == 0)
        return special[(x >> 8) % (sizeof special / sizeof *special)];
    for (;;) {
        uint32_t u = (uint32_t)(x >> 32);
        float f;
        memcpy(&f, &u, 4);
        if (isfinite(f))
            return f;
        x = bnn_rng_next(r);
    }
}

static void arch_equal(const bnn_arch *a, const bnn_arch *b)
{
    assert_int_equal(a->nlayers, b->nlayers);
    for (int i = 0; i <= a->nlayers; i++)
        assert_int_equal(a->width[i], b->width[i]);
    for (int l = 0; l < a->nlayers; l++) {
        assert_int_equal(a->act[l], b->act[l]);
        assert_int_equal(a->bias[l], b->bias[l]);
    }
}

static int count_temp_files(void)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Round trips and layout                                                                      */

static void test_round_trip(void **state)
{
    (void)state;
    static const int64_t widths[] = {1, 3, 17};
    bnn_rng r;
    bnn_rng_seed(&r, 20240611);
    char path[512];
    path_in(path, sizeof path, "round.safetensors");
    for (int trial = 0; trial < 120; trial++) {
        bnn_arch a;
        memset(&a, 0, sizeof a);
        a.nlayers = 1 + (int)(bnn_rng_next(&r) % 4);
        for (int i = 0; i <= a.nlayers; i++)
            a.width[i] = widths[bnn_rng_next(&r) % 3];
        for (int l = 0; l < a.nlayers; l++) {
            a.act[l] = (bnn_act)(bnn_rng_next(&r) % BNN_ACT_COUNT);
            a.bias[l] = (uint8_t)(trial % 3 == 0 ? 0 : trial % 3 == 1 ? 1 : bnn_rng_next(&r) & 1);
        }
        bnn_model m, back;
        bnn_error e;
        assert_int_equal(bnn_model_init(&m, &a, &e), 0);
        for (size_t i = 0; i < m.nparams; i++)
            m.theta[i] = random_float(&r);
        save_ok(&m, path);
        /* the file's activations win over the fallback */
        load_ok(&back, path, trial % 2 ? "relu" : NULL);
        arch_equal(&m.arch, &back.arch);
        assert_int_equal(back.nparams, m.nparams);
        assert_memory_equal(back.theta, m.theta, m.nparams * sizeof(float));
        bnn_model_free(&back);
        bnn_model_free(&m);
    }
    assert_int_equal(count_temp_files(), 0);
}

static json_object *parse_json(const char *s, size_t n)
{
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
    json_tokener_free(tok);
    assert_non_null(o);
    return o;
}

static void check_tensor(json_object *root, const char *name, int64_t d0, int64_t d1,
                         uint64_t begin, uint64_t end)
{
    json_object *t, *v;
    assert_true(json_object_object_get_ex(root, name, &t));
    assert_int_equal(json_object_object_length(t), 3);
    assert_true(json_object_object_get_ex(t, "dtype", &v));
    assert_string_equal(json_object_get_string(v), "F32");
    assert_true(json_object_object_get_ex(t, "shape", &v));
    assert_int_equal(json_object_array_length(v), d1 < 0 ? 1 : 2);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), d0);
    if (d1 >= 0)
        assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 1)), d1);
    assert_true(json_object_object_get_ex(t, "data_offsets", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), (int64_t)begin);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 1)), (int64_t)end);
}

static void test_layout(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    assert_int_equal(bnn_arch_parse(&a, "2,3,1", "sigmoid,identity", 1, &e), 0);
    a.bias[1] = 0; /* layer 0 with a bias, layer 1 without */
    bnn_model m;
    assert_int_equal(bnn_model_init(&m, &a, &e), 0);
    for (size_t i = 0; i < m.nparams; i++)
        m.theta[i] = 0.125f * (float)i - 1.0f;
    char path[512];
    path_in(path, sizeof path, "layout.safetensors");
    save_ok(&m, path);

    size_t n;
    unsigned char *buf = read_all(path, &n);
    assert_true(n >= 8);
    uint64_t hlen = get_le64(buf);
    assert_true(hlen > 0 && 8 + hlen <= n);
    assert_int_equal((8 + hlen) % 8, 0);                  /* aligned data start */
    assert_int_equal(n, 8 + hlen + 4 * m.nparams);        /* nothing else in the file */
    assert_int_equal(buf[8], '{');
    size_t jlen = (size_t)hlen;
    while (jlen > 0 && buf[8 + jlen - 1] == ' ')          /* padding is spaces only */
        jlen--;
    assert_int_equal(buf[8 + jlen - 1], '}');
    assert_null(memchr(buf + 8, '\0', (size_t)hlen));

    json_object *root = parse_json((const char *)buf + 8, jlen);
    assert_int_equal(json_object_object_length(root), 4); /* metadata + 3 tensors */
    json_object *meta, *v;
    assert_true(json_object_object_get_ex(root, "__metadata__", &meta));
    assert_int_equal(json_object_object_length(meta), 2);
    assert_true(json_object_object_get_ex(meta, "format", &v));
    assert_string_equal(json_object_get_string(v), "batchnn/1");
    assert_true(json_object_object_get_ex(meta, "activations", &v));
    assert_string_equal(json_object_get_string(v), "sigmoid,identity");
    check_tensor(root, "layers.0.weight", 3, 2, 0, 24);
    check_tensor(root, "layers.0.bias", 3, -1, 24, 36);
    check_tensor(root, "layers.1.weight", 1, 3, 36, 48);
    assert_false(json_object_object_get_ex(root, "layers.1.bias", NULL));
    /* tensors appear in layer order after the metadata */
    static const char *const order[] = {"__metadata__", "layers.0.weight", "layers.0.bias",
                                        "layers.1.weight"};
    int k = 0;
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        assert_string_equal(key, order[k]);
        k++;
    }
    json_object_put(root);

    /* data: theta's floats, little-endian, in order */
    const unsigned char *d = buf + 8 + hlen;
    for (size_t i = 0; i < m.nparams; i++) {
        unsigned char want[4];
        put_le32(want, float_bits(m.theta[i]));
        assert_memory_equal(d + 4 * i, want, 4);
    }
    free(buf);
    bnn_model_free(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Malformed files                                                                             */

#define W0 "\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define B0 "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}"
#define META(acts) "\"__metadata__\":{\"format\":\"batchnn/1\",\"activations\":\"" acts "\"}"

typedef struct bad_case {
    const char *file;
    const char *header;
    size_t data_bytes; /* filled with float 0.25 (trailing bytes that are not a float: 0) */
    const char *words[4];
} bad_case;

static const bad_case bad_cases[] = {
    /* header as a whole */
    {"json_garbage", "hello there", 32, {"header is not valid JSON"}},
    {"json_truncated", "{\"layers.0.weight\":{\"dtype\":", 32, {"not valid JSON"}},
    {"json_trailing", "{" W0 "," B0 "} x", 32, {"not valid JSON"}},
    {"json_array", "[1,2,3]", 32, {"header is a JSON array, not an object"}},
    {"json_string", "\"text\"", 32, {"not an object"}},
    {"json_comma", "{" W0 "," B0 ",}", 32, {"not valid JSON"}},
    {"json_utf8", "{\"layers.0.weight\xff\":1}", 32, {"not valid JSON", "utf-8"}},
    {"json_single_quote", "{'layers.0.weight':{\"dtype\":\"F32\",\"shape\":[2,3],"
                          "\"data_offsets\":[0,24]}," B0 "}", 32, {"single-quoted"}},
    {"json_nan_literal", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[NaN,3],"
                         "\"data_offsets\":[0,24]}," B0 "}", 32, {"not strict JSON", "NaN"}},
    {"json_infinity", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[-Infinity,3],"
                      "\"data_offsets\":[0,24]}," B0 "}", 32, {"not strict JSON"}},
    {"json_control", "{" W0 "," B0 ",\"__metadata__\":{\"x\":\"a\nb\"}}", 32,
     {"control character"}},
    {"json_escaped_nul", "{\"layers.0.weight\\u0000x\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                         "\"data_offsets\":[0,24]}," B0 "}", 32, {"\\u0000"}},
    {"json_duplicate", "{" W0 "," B0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[24,32]}}", 32, {"duplicate key"}},
    {"json_duplicate_field", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"dtype\":\"F32\","
                             "\"shape\":[2,3],\"data_offsets\":[0,24]}," B0 "}", 32,
     {"duplicate key"}},
    {"json_deep", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                  "]]]]]]]]}", 32, {"tensor \"a\": entry is a JSON array, not an object"}},
    /* the shape of the format, enforced before json-c builds anything */
    {"deep_shape", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[[2],3],"
                   "\"data_offsets\":[0,24]}}", 24,
     {"header nests deeper than 3 levels", "tensor \"layers.0.weight\": \"shape\" holds an "
      "array"}},
    {"deep_field", "{\"layers.0.weight\":{\"dtype\":{\"a\":1},\"shape\":[2,3],"
                   "\"data_offsets\":[0,24]}}", 24,
     {"tensor \"layers.0.weight\": \"dtype\" is a JSON object"}},
    {"meta_array", "{\"__metadata__\":{\"format\":\"pt\",\"a\":[{},{}]}," W0 "," B0 "}", 32,
     {"__metadata__ \"a\" is a JSON array; metadata values must be strings"}},
    {"meta_object", "{\"__metadata__\":{\"b\":{\"c\":\"d\"}}," W0 "," B0 "}", 32,
     {"__metadata__ \"b\" is a JSON object; metadata values must be strings"}},
    {"meta_is_array", "{\"__metadata__\":[\"x\"]," W0 "," B0 "}", 32,
     {"\"__metadata__\" is a JSON array, not an object"}},
    {"many_fields", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":"
                    "[0,24],\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1}}", 24,
     {"tensor \"layers.0.weight\" has more than 8 fields"}},
    {"long_shape", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,"
                   "1,1,1,1,1,2,3],\"data_offsets\":[0,24]}}", 24,
     {"tensor \"layers.0.weight\": \"shape\" has more than 16 elements"}},
    {"json_bad_escape", "{\"layers.0.weight\\q\":1}", 0, {"not valid JSON", "escape"}},
    {"json_bad_number", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[02,3],"
                        "\"data_offsets\":[0,24]}}", 24, {"not valid JSON", "leading zero (at byte 43 of"}},
    {"json_missing_colon", "{\"a\" 1}", 0, {"not valid JSON", "expected ':'"}},
    {"no_tensors", "{}", 0, {"no tensors"}},
    {"metadata_only", "{" META("sigmoid") "}", 0, {"no tensors"}},
    /* tensor entries */
    {"entry_not_object", "{\"layers.0.weight\":[2,3]}", 24, {"layers.0.weight", "not an object"}},
    {"missing_dtype", "{\"layers.0.weight\":{\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
     {"layers.0.weight", "missing \"dtype\""}},
    {"missing_shape", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}}", 24,
     {"layers.0.weight", "missing \"shape\""}},
    {"missing_offsets", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", 24,
     {"layers.0.weight", "missing \"data_offsets\""}},
    {"extra_field", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":"
                    "[0,24],\"order\":\"C\"}}", 24, {"unexpected field \"order\""}},
    {"dtype_i32", "{\"layers.0.weight\":{\"dtype\":\"I32\",\"shape\":[2,3],\"data_offsets\":"
                  "[0,24]}}", 24, {"layers.0.weight", "dtype \"I32\" is not supported"}},
    {"dtype_f8", "{\"layers.0.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,3],\"data_offsets\":"
                 "[0,6]}}", 6, {"F8_E4M3", "not supported"}},
    {"dtype_number", "{\"layers.0.weight\":{\"dtype\":32,\"shape\":[2,3],\"data_offsets\":"
                     "[0,24]}}", 24, {"\"dtype\" is a JSON integer, not a string"}},
    {"shape_negative", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[-2,3],"
                       "\"data_offsets\":[0,24]}}", 24, {"dimension 0 is -2, negative"}},
    {"shape_fraction", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3.0],"
                       "\"data_offsets\":[0,24]}}", 24, {"dimension 1", "fraction"}},
    {"shape_exponent", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2e0,3],"
                       "\"data_offsets\":[0,24]}}", 24, {"dimension 0", "exponent"}},
    {"shape_string", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[\"2\",3],"
                     "\"data_offsets\":[0,24]}}", 24, {"dimension 0 is a JSON string"}},
    {"shape_not_array", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":6,"
                        "\"data_offsets\":[0,24]}}", 24, {"\"shape\" is a JSON integer"}},
    {"shape_overflow", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
                       "4294967296],\"data_offsets\":[0,24]}}", 24,
     {"too many elements", "overflows"}},
    {"shape_overflow_bytes", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":"
                             "[4611686018427387904],\"data_offsets\":[0,24]}}", 24,
     {"overflows 64 bits"}},
    {"shape_huge_dim", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":"
                       "[99999999999999999999999,0],\"data_offsets\":[0,0]}}", 0,
     {"dimension 0 is", "too large"}},
    {"shape_2_63", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":"
                   "[9223372036854775808,0],\"data_offsets\":[0,0]}}", 0,
     {"dimension 0 is 9223372036854775808, too large"}},
    {"offsets_reversed", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                         "\"data_offsets\":[24,0]}}", 24, {"[24, 0] are reversed"}},
    {"offsets_past_end", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                         "\"data_offsets\":[8,32]}}", 24,
     {"[8, 32] go past the end of the 24-byte data buffer"}},
    {"offsets_huge", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                     "\"data_offsets\":[0,18446744073709551616]}}", 24, {"end is", "too large"}},
    {"offsets_negative", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                         "\"data_offsets\":[-24,0]}}", 24, {"begin is -24, negative"}},
    {"offsets_three", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                      "\"data_offsets\":[0,12,24]}}", 24, {"3 elements, not 2"}},
    {"offsets_size", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                     "\"data_offsets\":[0,20]}}", 24, {"span 20 bytes", "needs 24", "mismatch"}},
    {"offsets_overlap", "{" W0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                        "\"data_offsets\":[16,24]}}", 32,
     {"\"layers.0.bias\" (bytes 16 to 24) overlaps tensor \"layers.0.weight\""}},
    {"uncovered_end", "{" W0 "," B0 "}", 40,
     {"8 bytes of data", "not used by any tensor"}},
    {"uncovered_middle", "{" W0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                         "\"data_offsets\":[28,36]}}", 36,
     {"bytes 24 to 28", "not used by any tensor"}},
    {"uncovered_start", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                        "\"data_offsets\":[8,32]}}", 32, {"bytes 0 to 8", "not used"}},
    /* names and layers */
    {"unknown_name", "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":"
                     "[0,24]}}", 24, {"tensor \"fc.weight\": unknown name"}},
    {"name_leading_zero", "{\"layers.01.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                          "\"data_offsets\":[0,24]}}", 24, {"layers.01.weight", "unknown name"}},
    {"name_sign", "{\"layers.+1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                  "\"data_offsets\":[0,24]}}", 24, {"unknown name"}},
    {"name_suffix", "{\"layers.0.weights\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                    "\"data_offsets\":[0,24]}}", 24, {"layers.0.weights", "unknown name"}},
    {"name_newline", "{\"layers.0.weight\\n\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                     "\"data_offsets\":[0,24]}}", 24, {"\"layers.0.weight\\x0a\"", "unknown name"}},
    {"name_index_big", "{\"layers.256.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                       "\"data_offsets\":[0,24]}}", 24, {"layers.256.weight", "limit of 256"}},
    {"name_index_huge", "{\"layers.99999999999999999999999.weight\":{\"dtype\":\"F32\","
                        "\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, {"limit of 256"}},
    {"layer_gap", "{" W0 ",\"layers.2.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],"
                  "\"data_offsets\":[24,32]}}", 32,
     {"\"layers.1.weight\" is missing", "without gaps", "found layers.2"}},
    {"bias_without_weight", "{" W0 ",\"layers.1.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                            "\"data_offsets\":[24,32]}}", 32,
     {"\"layers.1.bias\" has no matching \"layers.1.weight\""}},
    {"weight_3d", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3,1],"
                  "\"data_offsets\":[0,24]}}", 24, {"layers.0.weight", "[2, 3, 1] is 3-D"}},
    {"weight_1d", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[6],"
                  "\"data_offsets\":[0,24]}}", 24, {"[6] is 1-D"}},
    {"weight_zero", "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[0,3],"
                    "\"data_offsets\":[0,0]}}", 0, {"zero dimension"}},
    {"bias_2d", "{" W0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2,1],"
                "\"data_offsets\":[24,32]}}", 32, {"layers.0.bias", "is 2-D"}},
    {"no_chain", "{" W0 ",\"layers.1.weight\":{\"dtype\":\"F32\",\"shape\":[1,4],"
                 "\"data_offsets\":[24,40]}}", 40,
     {"tensor \"layers.1.weight\": shape [1, 4] does not chain with layers.0 (out 2)"}},
    {"bias_length", "{" W0 ",\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],"
                    "\"data_offsets\":[24,36]}}", 36,
     {"\"layers.0.bias\": shape [3] does not match layers.0.weight (out 2)"}},
    /* metadata */
    {"meta_not_object", "{\"__metadata__\":\"batchnn\"," W0 "," B0 "}", 32,
     {"\"__metadata__\" is a JSON string, not an object"}},
    {"meta_not_string", "{\"__metadata__\":{\"format\":\"batchnn/1\",\"version\":1}," W0 ","
                        B0 "}", 32, {"\"version\"", "must be strings"}},
    {"meta_acts_count", "{" META("sigmoid,identity") "," W0 "," B0 "}", 32,
     {"\"activations\"", "2 names for 1 layer"}},
    {"meta_acts_unknown", "{" META("softmax") "," W0 "," B0 "}", 32,
     {"\"activations\"", "unknown activation \"softmax\""}},
    {"meta_acts_empty", "{" META("") "," W0 "," B0 "}", 32, {"unknown activation \"\""}},
    {"meta_format_tf", "{\"__metadata__\":{\"format\":\"tf\"}," W0 "," B0 "}", 32,
     {"\"format\" is \"tf\""}},
    {"meta_format_future", "{\"__metadata__\":{\"format\":\"batchnn/2\"}," W0 "," B0 "}", 32,
     {"\"batchnn/2\"", "batchnn/1"}},
};

static void test_malformed_corpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        char name[128], path[512];
        snprintf(name, sizeof name, "bad_%s.safetensors", c->file);
        path_in(path, sizeof path, name);
        unsigned char *d = float_data(c->data_bytes / 4, 0.25f, c->data_bytes % 4);
        write_st(path, c->header, d, c->data_bytes);
        free(d);
        const char *words[5] = {0};
        for (int k = 0; k < 4 && c->words[k]; k++)
            words[k] = c->words[k];
        expect_fail_path(path, NULL, words);
    }
}

static void test_bad_lengths(void **state)
{
    (void)state;
    char path[512];
    const char *hdr = "{" W0 "," B0 "}";
    unsigned char *d = float_data(8, 0.25f, 0);

    path_in(path, sizeof path, "len_empty.safetensors");
    write_bytes(path, "", 0);
    EXPECT_FAIL(path, NULL, "0 bytes", "too short");

    path_in(path, sizeof path, "len_short.safetensors");
    write_bytes(path, "\x10\0\0\0\0", 5);
    EXPECT_FAIL(path, NULL, "5 bytes", "too short");

    path_in(path, sizeof path, "len_only.safetensors");
    write_bytes(path, "\x10\0\0\0\0\0\0\0", 8);
    EXPECT_FAIL(path, NULL, "not a safetensors file (header length 16 is larger than the "
                            "file's 8 bytes)");

    path_in(path, sizeof path, "len_zero.safetensors");
    write_raw(path, 0, hdr, strlen(hdr), d, 32);
    EXPECT_FAIL(path, NULL, "header length is 0");

    path_in(path, sizeof path, "len_past_end.safetensors");
    write_raw(path, 1000, hdr, strlen(hdr), d, 32);
    EXPECT_FAIL(path, NULL, "header length 1000 is past the end of the file", "truncated");

    path_in(path, sizeof path, "len_huge.safetensors");
    write_raw(path, (uint64_t)1 << 63, hdr, strlen(hdr), d, 32);
    EXPECT_FAIL(path, NULL, "not a safetensors file (header length 9223372036854775808 is "
                            "larger than");

    path_in(path, sizeof path, "len_max.safetensors");
    write_raw(path, UINT64_MAX, hdr, strlen(hdr), d, 32);
    EXPECT_FAIL(path, NULL, "not a safetensors file");

    /* header length one short of the JSON: the JSON is cut */
    path_in(path, sizeof path, "len_cut.safetensors");
    write_raw(path, strlen(hdr) - 1, hdr, strlen(hdr), d, 32);
    EXPECT_FAIL(path, NULL, "not valid JSON");

    /* an embedded NUL inside the header */
    {
        char h[256];
        snprintf(h, sizeof h, "%s   ", hdr);
        size_t hl = strlen(h);
        h[hl - 2] = '\0';
        path_in(path, sizeof path, "hdr_nul.safetensors");
        write_raw(path, hl, h, hl, d, 32);
        EXPECT_FAIL(path, NULL, "NUL byte at offset", "header");
    }
    /* a header above the 100 MB limit in a (sparse) file large enough to hold it */
    {
        path_in(path, sizeof path, "len_limit.safetensors");
        unsigned char len8[8];
        put_le64(len8, 150000000);
        write_bytes(path, len8, 8);
        if (truncate(path, 200000000) == 0)
            EXPECT_FAIL(path, NULL, "header length 150000000 exceeds the limit");
        unlink(path);
    }
    free(d);

    /* not a file at all; a FIFO without a writer must not block */
    EXPECT_FAIL(g_dir, NULL, "not a regular file");
    path_in(path, sizeof path, "fifo.safetensors");
    assert_int_equal(mkfifo(path, 0600), 0);
    EXPECT_FAIL(path, NULL, "not a regular file");
    unlink(path);
    path_in(path, sizeof path, "does_not_exist.safetensors");
    EXPECT_FAIL(path, NULL, "cannot open");
}

static void test_bad_values(void **state)
{
    (void)state;
    char path[512];
    const char *hdr = "{" META("tanh") "," W0 "," B0 "}";
    unsigned char *d = float_data(8, 0.25f, 0);

    put_le32(d + 4 * 4, float_bits(NAN)); /* weight [1, 1] */
    path_in(path, sizeof path, "val_nan.safetensors");
    write_st(path, hdr, d, 32);
    EXPECT_FAIL(path, NULL, "tensor \"layers.0.weight\": element [1, 1] is NaN");

    put_le32(d + 4 * 4, float_bits(0.5f));
    put_le32(d + 4 * 7, float_bits(-INFINITY)); /* bias [1] */
    path_in(path, sizeof path, "val_inf.safetensors");
    write_st(path, hdr, d, 32);
    EXPECT_FAIL(path, NULL, "tensor \"layers.0.bias\": element [1] is -inf");
    free(d);

    /* F16 infinity, F64 beyond float32 */
    unsigned char h16[12] = {0};
    h16[10] = 0x00;
    h16[11] = 0x7c; /* +inf at element [1, 2] */
    path_in(path, sizeof path, "val_f16_inf.safetensors");
    write_st(path, "{\"layers.0.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":"
                   "[0,12]}}", h16, 12);
    EXPECT_FAIL(path, NULL, "element [1, 2] is +inf");

    unsigned char f64[16];
    double big = 1e300, one = 1.0;
    uint64_t u;
    memcpy(&u, &one, 8);
    put_le64(f64, u);
    memcpy(&u, &big, 8);
    put_le64(f64 + 8, u);
    path_in(path, sizeof path, "val_f64_big.safetensors");
    write_st(path, "{\"layers.0.weight\":{\"dtype\":\"F64\",\"shape\":[1,2],\"data_offsets\":"
                   "[0,16]}}", f64, 16);
    EXPECT_FAIL(path, NULL, "element [0, 1] is 1.0000000000000001e+300",
                "outside the float32 range");
}

/* A width above BNN_MAX_WIDTH, and a model too large for memory, in sparse files. */
static void test_bad_sizes(void **state)
{
    (void)state;
    char path[512], hdr[256];
    path_in(path, sizeof path, "size_wide.safetensors");
    snprintf(hdr, sizeof hdr, "{\"layers.0.weight\":{\"dtype\":\"BF16\",\"shape\":[1,%lld],"
                              "\"data_offsets\":[0,%lld]}}",
             (long long)BNN_MAX_WIDTH + 1, 2 * ((long long)BNN_MAX_WIDTH + 1));
    write_st(path, hdr, NULL, 0);
    if (truncate(path, (off_t)(8 + strlen(hdr)) + 2 * (BNN_MAX_WIDTH + 1)) == 0)
        EXPECT_FAIL(path, NULL, "width 16777217 is larger than the limit 16777216");
    unlink(path);

    /* 2^24 x 2^16 float32 = 4 TiB: more than this machine's memory */
    path_in(path, sizeof path, "size_memory.safetensors");
    long long bytes = (long long)BNN_MAX_WIDTH * 65536 * 4;
    snprintf(hdr, sizeof hdr, "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[%lld,65536],"
                              "\"data_offsets\":[0,%lld]}}", (long long)BNN_MAX_WIDTH, bytes);
    write_st(path, hdr, NULL, 0);
    size_t mem = bnn_physical_memory();
    if (mem && mem < (size_t)bytes / 4 && truncate(path, (off_t)(8 + strlen(hdr) + bytes)) == 0)
        EXPECT_FAIL(path, NULL, "do not fit");
    unlink(path);
}

/* ------------------------------------------------------------------------------------------ */
/* Files from elsewhere                                                                        */

/* layers.0: W [3, 2], b [3]; layers.1: W [1, 3], no bias. Data deliberately not in header
 * order (layers.1.weight first), as another writer may lay it out. */
static const char torch_hdr[] =
    "{\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]},"
    "\"layers.1.weight\":{\"shape\":[1,3],\"dtype\":\"F32\",\"data_offsets\":[0,12]},"
    "\"layers.0.weight\":{\"data_offsets\":[24,48],\"dtype\":\"F32\",\"shape\":[3,2]}}";

static void write_torch_file(const char *path, const char *header)
{
    /* theta order: W0 (6) b0 (3) W1 (3) = values 1..12; file order: W1, b0, W0 */
    static const float file_vals[12] = {10, 11, 12, 7, 8, 9, 1, 2, 3, 4, 5, 6};
    unsigned char d[48];
    for (int i = 0; i < 12; i++)
        put_le32(d + 4 * i, float_bits(file_vals[i]));
    write_st(path, header, d, sizeof d);
}

static void check_torch_model(const bnn_model *m, bnn_act a0, bnn_act a1)
{
    assert_int_equal(m->arch.nlayers, 2);
    assert_int_equal(m->arch.width[0], 2);
    assert_int_equal(m->arch.width[1], 3);
    assert_int_equal(m->arch.width[2], 1);
    assert_int_equal(m->arch.bias[0], 1);
    assert_int_equal(m->arch.bias[1], 0);
    assert_int_equal(m->arch.act[0], a0);
    assert_int_equal(m->arch.act[1], a1);
    assert_int_equal(m->nparams, 12);
    for (size_t i = 0; i < 12; i++)
        assert_true(m->theta[i] == (float)(i + 1));
}

static void test_pytorch_style(void **state)
{
    (void)state;
    char path[512];
    bnn_model m;
    path_in(path, sizeof path, "torch.safetensors");
    write_torch_file(path, torch_hdr);

    load_ok(&m, path, "relu");
    check_torch_model(&m, BNN_ACT_RELU, BNN_ACT_RELU);
    bnn_model_free(&m);
    load_ok(&m, path, NULL);
    check_torch_model(&m, BNN_ACT_SIGMOID, BNN_ACT_SIGMOID);
    bnn_model_free(&m);
    load_ok(&m, path, "tanh, identity");
    check_torch_model(&m, BNN_ACT_TANH, BNN_ACT_IDENTITY);
    bnn_model_free(&m);
    EXPECT_FAIL(path, "relu,relu,relu", "no \"activations\"", "fallback",
                "3 names for 2 layers");
    EXPECT_FAIL(path, "softplus", "fallback", "unknown activation \"softplus\"");

    /* the Hugging Face convention "format": "pt", other metadata ignored */
    char hdr[1024];
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},%s",
             torch_hdr + 1);
    path_in(path, sizeof path, "torch_pt.safetensors");
    write_torch_file(path, hdr);
    load_ok(&m, path, "relu");
    check_torch_model(&m, BNN_ACT_RELU, BNN_ACT_RELU);
    bnn_model_free(&m);

    /* metadata activations win over the fallback; padding of any JSON whitespace */
    snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"activations\":\"relu,linear\"},%s \t\r\n",
             torch_hdr + 1);
    path_in(path, sizeof path, "torch_acts.safetensors");
    write_torch_file(path, hdr);
    load_ok(&m, path, "sigmoid");
    check_torch_model(&m, BNN_ACT_RELU, BNN_ACT_IDENTITY);
    bnn_model_free(&m);
}

/* nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)) saves 0.weight,
 * 0.bias and 2.weight: the same model as torch_hdr, read in index order with a note. */
static const char seq_hdr[] =
    "{\"0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]},"
    "\"2.weight\":{\"shape\":[1,3],\"dtype\":\"F32\",\"data_offsets\":[0,12]},"
    "\"0.weight\":{\"data_offsets\":[24,48],\"dtype\":\"F32\",\"shape\":[3,2]}}";

static void test_sequential_names(void **state)
{
    (void)state;
    char path[512], hdr[1024], note[256];
    bnn_model m;
    bnn_error e = {{0}};
    path_in(path, sizeof path, "sequential.safetensors");
    write_torch_file(path, seq_hdr);
    memset(note, 'x', sizeof note);
    if (bnn_model_load_note(&m, path, "relu,identity", note, sizeof note, &e) != 0) {
        print_error("%s: load failed: %s\n", path, e.msg);
        fail();
    }
    check_torch_model(&m, BNN_ACT_RELU, BNN_ACT_IDENTITY);
    bnn_model_free(&m);
    print_message("    note: %s\n", note);
    assert_non_null(strstr(note, path));
    assert_non_null(strstr(note, "nn.Sequential"));
    assert_non_null(strstr(note, "0 -> layers.0, 2 -> layers.1"));
    assert_null(strchr(note, '\n'));
    /* the plain entry point loads it too; a batchnn file gives no note */
    load_ok(&m, path, NULL);
    check_torch_model(&m, BNN_ACT_SIGMOID, BNN_ACT_SIGMOID);
    bnn_model_free(&m);
    char plain[512];
    path_in(plain, sizeof plain, "torch_plain.safetensors");
    write_torch_file(plain, torch_hdr);
    assert_int_equal(bnn_model_load_note(&m, plain, NULL, note, sizeof note, &e), 0);
    assert_string_equal(note, "");
    bnn_model_free(&m);

    /* many layers: indices 0, 2, 4, ... 2(m-1), listed first four and last, in a short note */
    enum { M = 7 };
    size_t off = 0, pos = 0;
    unsigned char data[M * 4];
    pos += (size_t)snprintf(hdr + pos, sizeof hdr - pos, "{");
    for (int l = M - 1; l >= 0; l--) { /* header order reversed: order comes from k */
        pos += (size_t)snprintf(hdr + pos, sizeof hdr - pos,
                                "%s\"%d.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],"
                                "\"data_offsets\":[%zu,%zu]}", l == M - 1 ? "" : ",", 2 * l,
                                (size_t)l * 4, (size_t)l * 4 + 4);
        put_le32(data + 4 * l, float_bits((float)(l + 1)));
        off += 4;
    }
    snprintf(hdr + pos, sizeof hdr - pos, "}");
    path_in(path, sizeof path, "sequential_deep.safetensors");
    write_st(path, hdr, data, off);
    if (bnn_model_load_note(&m, path, "tanh", note, sizeof note, &e) != 0) {
        print_error("%s: load failed: %s\n", path, e.msg);
        fail();
    }
    assert_int_equal(m.arch.nlayers, M);
    for (int l = 0; l < M; l++)
        if (m.theta[l] != (float)(l + 1)) {
            print_error("layer %d holds %g, want %d (tensor %d.weight)\n", l,
                        (double)m.theta[l], l + 1, 2 * l);
            fail();
        }
    bnn_model_free(&m);
    print_message("    note: %s\n", note);
    assert_non_null(strstr(note, "6 -> layers.3, ..., 12 -> layers.6"));

    /* refused: a bias without its weight, names of both kinds, what is neither, and widths
     * that do not chain. Each header is seq_hdr's three tensors under other names/shapes. */
#define SEQ3(b, w2, shape2, w0)                                                                \
    "{\"" b "\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]},\"" w2 "\":{\"shape\":" \
    shape2 ",\"dtype\":\"F32\",\"data_offsets\":[0,12]},\"" w0 "\":{\"data_offsets\":[24,48],"    \
    "\"dtype\":\"F32\",\"shape\":[3,2]}}"
    static const struct {
        const char *file, *hdr, *words[3];
    } refused[] = {
        {"seq_orphan", SEQ3("1.bias", "2.weight", "[1,3]", "0.weight"),
         {"\"1.bias\" has no matching \"1.weight\"", NULL}},
        {"seq_mixed", SEQ3("0.bias", "layers.1.weight", "[1,3]", "0.weight"),
         {"names mix layers.{l}.weight and nn.Sequential", NULL}},
        {"seq_prefixed", SEQ3("net.0.bias", "net.2.weight", "[1,3]", "net.0.weight"),
         {"unknown name", "nn.Sequential", NULL}},
        {"seq_zero", SEQ3("0.bias", "02.weight", "[1,3]", "0.weight"),
         {"\"02.weight\"", "unknown name", NULL}},
        {"seq_chain", SEQ3("0.bias", "2.weight", "[3,1]", "0.weight"),
         {"\"2.weight\"", "does not chain", NULL}},
    };
#undef SEQ3
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        path_in(path, sizeof path, refused[k].file);
        write_torch_file(path, refused[k].hdr);
        expect_fail_path(path, NULL, refused[k].words);
    }
}

static void test_dtype_conversion(void **state)
{
    (void)state;
    char path[512];
    bnn_model m;
    /* F16: 1, -2, 65504, 2^-24 (subnormal), -0, 0.333251953125 */
    static const uint16_t h[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555};
    static const float hf[6] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, -0.0f, 0.333251953125f};
    unsigned char d[48];
    for (int i = 0; i < 6; i++) {
        d[2 * i] = (unsigned char)(h[i] & 0xff);
        d[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    path_in(path, sizeof path, "f16.safetensors");
    write_st(path, "{\"layers.0.weight\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":"
                   "[0,12]}}", d, 12);
    load_ok(&m, path, "identity");
    for (int i = 0; i < 6; i++)
        assert_int_equal(float_bits(m.theta[i]), float_bits(hf[i]));
    bnn_model_free(&m);

    /* BF16: the top half of float32 */
    static const float bf[3] = {1.0f, -3.5f, 1e30f};
    for (int i = 0; i < 3; i++) {
        uint32_t u = float_bits(bf[i]) >> 16;
        d[2 * i] = (unsigned char)(u & 0xff);
        d[2 * i + 1] = (unsigned char)(u >> 8);
    }
    path_in(path, sizeof path, "bf16.safetensors");
    write_st(path, "{\"layers.0.weight\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":"
                   "[0,6]}}", d, 6);
    load_ok(&m, path, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(float_bits(m.theta[i]), float_bits(bf[i]) & 0xffff0000u);
    bnn_model_free(&m);

    /* F64 weight (rounded to nearest) with an F32 bias: dtypes may differ per tensor */
    static const double dv[3] = {0.1, -1e-50, 3.4028234663852886e38};
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &dv[i], 8);
        put_le64(d + 8 * i, u);
    }
    put_le32(d + 24, float_bits(7.0f));
    path_in(path, sizeof path, "f64.safetensors");
    write_st(path, "{\"layers.0.weight\":{\"dtype\":\"F64\",\"shape\":[1,3],\"data_offsets\":"
                   "[0,24]},\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[24,28]}}", d, 28);
    load_ok(&m, path, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(float_bits(m.theta[i]), float_bits((float)dv[i]));
    assert_true(m.theta[3] == 7.0f);
    assert_int_equal(m.arch.bias[0], 1);
    bnn_model_free(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Saving                                                                                      */

static void test_failed_save_keeps_file(void **state)
{
    (void)state;
    bnn_arch a;
    bnn_error e;
    bnn_model m;
    assert_int_equal(bnn_arch_parse(&a, "2,3,2", "tanh", 1, &e), 0);
    assert_int_equal(bnn_model_init(&m, &a, &e), 0);
    bnn_model_randomize(&m, 7);
    char path[512];
    path_in(path, sizeof path, "keep.safetensors");
    save_ok(&m, path);
    size_t n0, n1;
    unsigned char *before = read_all(path, &n0);

    float *w1 = bnn_model_weight(&m, 1);
    w1[1] = NAN; /* layers.1.weight [0, 1] */
    memset(&e, 0, sizeof e);
    assert_int_equal(bnn_model_save(&m, path, &e), -1);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "tensor \"layers.1.weight\" element [0, 1] is NaN"));
    unsigned char *after = read_all(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(after);
    assert_int_equal(count_temp_files(), 0);

    w1[1] = 0.5f;
    bnn_model_bias(&m, 0)[2] = INFINITY;
    assert_int_equal(bnn_model_save(&m, path, &e), -1);
    assert_non_null(strstr(e.msg, "tensor \"layers.0.bias\" element [2] is +inf"));
    after = read_all(path, &n1);
    assert_memory_equal(before, after, n0);
    free(after);
    assert_int_equal(count_temp_files(), 0);

    /* a save into a directory that does not exist fails cleanly */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.safetensors", g_dir);
    bnn_model_bias(&m, 0)[2] = 0.0f;
    assert_int_equal(bnn_model_save(&m, bad, &e), -1);
    assert_non_null(strstr(e.msg, bad));

    /* a successful save replaces the file, leaving no temporary behind */
    w1[0] = 42.0f;
    save_ok(&m, path);
    assert_int_equal(count_temp_files(), 0);
    bnn_model back;
    load_ok(&back, path, NULL);
    assert_memory_equal(back.theta, m.theta, m.nparams * sizeof(float));
    bnn_model_free(&back);
    free(before);
    bnn_model_free(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile headers: refused by the pre-pass before json-c builds anything, in bounded memory   */

typedef struct load_result {
    int rc;
    long grew_kb; /* growth of the peak resident size during the load */
    char msg[1024];
} load_result;

static long peak_kb(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* Loads path in a forked child and reports the result, the message and the growth of the
 * child's peak resident size. The child has two minutes; without sanitizers its address space
 * is also capped (current size + as_extra_mb), so a loader that balloons fails fast there
 * instead of exhausting the machine. */
static void load_in_child(const char *path, long as_extra_mb, load_result *out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(120);
#if !defined(__SANITIZE_ADDRESS__)
        FILE *f = fopen("/proc/self/status", "r");
        char ln[256];
        long vm_kb = 0;
        while (f && fgets(ln, sizeof ln, f))
            if (sscanf(ln, "VmSize: %ld kB", &vm_kb) == 1)
                break;
        if (f)
            fclose(f);
        if (vm_kb > 0) {
            struct rlimit rl;
            rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_kb + as_extra_mb * 1024) * 1024;
            setrlimit(RLIMIT_AS, &rl);
        }
#else
        (void)as_extra_mb;
#endif
        load_result r;
        memset(&r, 0, sizeof r);
        long before = peak_kb();
        bnn_model m;
        bnn_error e;
        memset(&e, 0, sizeof e);
        r.rc = bnn_model_load(&m, path, NULL, &e);
        r.grew_kb = peak_kb() - before;
        if (r.rc == 0)
            bnn_model_free(&m);
        snprintf(r.msg, sizeof r.msg, "%s", e.msg);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 4);
    }
    close(fds[1]);
    bnn_test_collect_child(pid, fds[0], out, sizeof *out, path, "loading");
}

/* A growing text buffer for building headers. */
typedef struct tbuf {
    char *p;
    size_t len, cap;
} tbuf;

static void tb_add(tbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Writes header (no data) and loads it in a child: it must fail with want, and the peak
 * resident size must grow by less than the header's size plus max_extra_mb. */
static void hostile(const char *name, tbuf *h, const char *want, long max_extra_mb)
{
    char path[512];
    path_in(path, sizeof path, name);
    write_st(path, h->p, NULL, 0);
    size_t hlen = h->len;
    free(h->p);
    memset(h, 0, sizeof *h);
    load_result r;
    load_in_child(path, 1024, &r);
    unlink(path);
    if (r.rc != -1 || strncmp(r.msg, path, strlen(path)) != 0 || !strstr(r.msg, want) ||
        strchr(r.msg, '\n')) {
        print_error("%s: rc %d, message '%s', expected '%s'\n", name, r.rc, r.msg, want);
        fail();
    }
    print_message("    %s: %s (peak grew by %ld kB for a %zu-byte header)\n", name,
                  r.msg + strlen(path), r.grew_kb, hlen);
    if (r.grew_kb > (long)(hlen >> 10) + max_extra_mb * 1024) {
        print_error("%s: the load's peak memory grew by %ld kB for a %zu-byte header\n", name,
                    r.grew_kb, hlen);
        fail();
    }
}

static void test_hostile_headers(void **state)
{
    (void)state;
    const size_t ten_mb = 10000000;
    tbuf h = {0};
    char item[128];

    /* 10 MB of {} in a metadata array: once 2.6 GB of json-c objects */
    tb_add(&h, "{\"__metadata__\":{\"a\":[");
    while (h.len < ten_mb)
        tb_add(&h, "{},{},{},{},{},{},{},{},{},{},");
    tb_add(&h, "{}]}}");
    hostile("meta_objects.safetensors", &h,
            ": __metadata__ \"a\" is a JSON array; metadata values must be strings", 16);

    /* the same behind a legitimate metadata key */
    tb_add(&h, "{\"__metadata__\":{\"format\":\"pt\",\"b\":{");
    for (int i = 0; h.len < ten_mb; i++) {
        snprintf(item, sizeof item, "\"k%d\":{},", i);
        tb_add(&h, item);
    }
    tb_add(&h, "\"z\":{}}}}");
    hostile("meta_nested.safetensors", &h, ": __metadata__ \"b\" is a JSON object", 16);

    /* many top-level entries */
    tb_add(&h, "{");
    for (int i = 0; h.len < ten_mb; i++) {
        snprintf(item, sizeof item, "\"t%d\":{},", i);
        tb_add(&h, item);
    }
    tb_add(&h, "\"z\":{}}");
    hostile("entries.safetensors", &h, ": header has more than 1024 entries", 16);

    /* deep nesting */
    tb_add(&h, "{\"layers.0.weight\":{\"shape\":");
    while (h.len < ten_mb)
        tb_add(&h, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    hostile("deep.safetensors", &h, ": header nests deeper than 3 levels", 16);

    /* a tensor with very many fields */
    tb_add(&h, "{\"layers.0.weight\":{");
    for (int i = 0; h.len < ten_mb; i++) {
        snprintf(item, sizeof item, "\"f%d\":[1,2],", i);
        tb_add(&h, item);
    }
    tb_add(&h, "\"z\":1}}");
    hostile("fields.safetensors", &h, ": tensor \"layers.0.weight\" has more than 8 fields", 16);

    /* a very long shape */
    tb_add(&h, "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[");
    while (h.len < ten_mb)
        tb_add(&h, "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,");
    tb_add(&h, "1],\"data_offsets\":[0,0]}}");
    hostile("shape.safetensors", &h,
            ": tensor \"layers.0.weight\": \"shape\" has more than 16 elements", 16);

    /* very many metadata strings */
    tb_add(&h, "{\"__metadata__\":{");
    for (int i = 0; h.len < ten_mb; i++) {
        snprintf(item, sizeof item, "\"m%d\":\"\",", i);
        tb_add(&h, item);
    }
    tb_add(&h, "\"z\":\"\"}}");
    hostile("meta_many.safetensors", &h, ": __metadata__ has more than 4096 entries", 16);

    /* a top-level array */
    tb_add(&h, "[");
    while (h.len < ten_mb)
        tb_add(&h, "{},{},{},{},{},{},{},{},{},{},");
    tb_add(&h, "{}]");
    hostile("array.safetensors", &h, ": header is a JSON array, not an object", 16);

    /* the largest header of the right shape: every limit reached at once. json-c parses it;
     * what it costs is bounded (the names are then refused) */
    tb_add(&h, "{\"__metadata__\":{");
    for (int i = 0; i < 4096; i++) {
        snprintf(item, sizeof item, "%s\"m%d\":\"v\"", i ? "," : "", i);
        tb_add(&h, item);
    }
    tb_add(&h, "}");
    for (int t = 0; t < 1023; t++) {
        snprintf(item, sizeof item, ",\"tensor%d\":{", t);
        tb_add(&h, item);
        for (int f = 0; f < 8; f++) {
            snprintf(item, sizeof item, "%s\"f%d\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]",
                     f ? "," : "", f);
            tb_add(&h, item);
        }
        tb_add(&h, "}");
    }
    tb_add(&h, "}");
    hostile("at_limits.safetensors", &h, "unknown name", 48);
}

/* The largest model batchnn makes (256 layers, each with a bias: 512 tensors) still loads. */
static void test_many_tensors(void **state)
{
    (void)state;
    char widths[2 * (BNN_MAX_LAYERS + 1) + 8];
    size_t o = 0;
    for (int i = 0; i <= BNN_MAX_LAYERS; i++)
        o += (size_t)snprintf(widths + o, sizeof widths - o, "%s%d", i ? "," : "", 1 + i % 3);
    bnn_arch a;
    bnn_error e;
    if (bnn_arch_parse(&a, widths, "tanh", 1, &e) != 0) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(a.nlayers, BNN_MAX_LAYERS);
    bnn_model m, back;
    assert_int_equal(bnn_model_init(&m, &a, &e), 0);
    bnn_model_randomize(&m, 11);
    char path[512];
    path_in(path, sizeof path, "deep_model.safetensors");
    save_ok(&m, path);
    load_ok(&back, path, NULL);
    arch_equal(&m.arch, &back.arch);
    assert_memory_equal(back.theta, m.theta, m.nparams * sizeof(float));
    bnn_model_free(&back);
    bnn_model_free(&m);
}

/* `batchnn info` on something else: said plainly. */
static void test_not_safetensors(void **state)
{
    (void)state;
    char path[512];
    path_in(path, sizeof path, "data.csv");
    const char *csv = "x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";
    write_bytes(path, csv, strlen(csv));
    uint64_t n = 0; /* the first 8 bytes, read as the header length */
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (unsigned char)csv[i];
    char want[200];
    snprintf(want, sizeof want, "not a safetensors file (header length %llu is larger than "
                                "the file's %zu bytes)", (unsigned long long)n, strlen(csv));
    EXPECT_FAIL(path, NULL, want);

    path_in(path, sizeof path, "notes.txt");
    const char *txt = "These are some notes, not a model.\n";
    write_bytes(path, txt, strlen(txt));
    EXPECT_FAIL(path, NULL, ": not a safetensors file (header length");
}

/* ------------------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    return bnn_test_tmpdir(g_dir, sizeof g_dir, "st");
}

static int group_teardown(void **state)
{
    (void)state;
    return bnn_test_rmtree(g_dir);
}

int main(void)
{
    /* large blocks always mapped and given back on free: the memory tests measure peak
     * resident sizes in forked children, which heap pages kept by the parent would blur */
    mallopt(M_MMAP_THRESHOLD, 1 << 17);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_malformed_corpus),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_pytorch_style),
        cmocka_unit_test(test_sequential_names),
        cmocka_unit_test(test_dtype_conversion),
        cmocka_unit_test(test_failed_save_keeps_file),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_many_tensors),
        cmocka_unit_test(test_not_safetensors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
