/*
 * bench_baseline.c - reading `bench --baseline FILE`: through bnn_input like every input (a
 * FIFO or device read at most the stream limit), at most BASELINE_MAX_BYTES of strict JSON
 * with nothing after the value, then the gate's schema, every field type-checked; a failure
 * exits 1 naming the file, the workload and the key (strings from the file escaped).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "train/bnn_train_internal.h"
#include "cli.h"

/* A baseline is a few KiB; more than this is not one (checked after the capped read). */
#define BASELINE_MAX_BYTES ((size_t)1 << 20)

static const char *json_kind(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "boolean";
    case json_type_double:
    case json_type_int: return "number";
    case json_type_object: return "object";
    case json_type_array: return "array";
    case json_type_string: return "string";
    }
    return "value";
}

/* The gate's schema: "workloads" an array of objects, each with a string "id" and, for every
 * quantity the gate compares, a finite number when present. Exits 1 naming file and key. */
static void check_baseline(json_object *base, const char *path)
{
    static const char *const numbers[] = {"efficiency", "reference_speedup", "thread_speedup"};
    json_object *list, *v;
    char q[64];
    if (!json_object_object_get_ex(base, "workloads", &list))
        cli_die(1, "--baseline %s: no \"workloads\"", path);
    if (!json_object_is_type(list, json_type_array))
        cli_die(1, "--baseline %s: \"workloads\" is a JSON %s, not an array", path,
                json_kind(list));
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *w = json_object_array_get_idx(list, i);
        if (!json_object_is_type(w, json_type_object))
            cli_die(1, "--baseline %s: workloads[%zu] is a JSON %s, not an object", path, i,
                    json_kind(w));
        if (!json_object_object_get_ex(w, "id", &v))
            cli_die(1, "--baseline %s: workloads[%zu] has no \"id\"", path, i);
        if (!json_object_is_type(v, json_type_string)) /* json-c's null is NULL */
            cli_die(1, "--baseline %s: workloads[%zu].id is a JSON %s, not a string", path, i,
                    json_kind(v));
        const char *id = json_object_get_string(v);
        bnn_quote(q, sizeof q, id, strlen(id), 40);
        for (size_t k = 0; k < sizeof numbers / sizeof *numbers; k++) {
            if (!json_object_object_get_ex(w, numbers[k], &v))
                continue;
            if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                cli_die(1, "--baseline %s: workloads[%zu] (id %s).%s is a JSON %s, not a number",
                        path, i, q, numbers[k], json_kind(v));
            if (!isfinite(json_object_get_double(v)))
                cli_die(1, "--baseline %s: workloads[%zu] (id %s).%s is not finite", path, i, q,
                        numbers[k]);
        }
    }
}

/* The baseline file through the reader every input uses (a FIFO or device read at most the
 * stream limit), then at most BASELINE_MAX_BYTES of strict JSON, then its schema. */
json_object *cli_read_baseline(const char *path)
{
    bnn_error e;
    bnn_input in;
    bnn_bytes b = {0};
    if (bnn_input_open(&in, path, &e) != 0 || bnn_input_contents(&in, &b, &e) != 0)
        cli_die(1, "--baseline %s", e.msg);
    bnn_input_close(&in);
    if (b.len > BASELINE_MAX_BYTES)
        cli_die(1, "--baseline %s: %zu bytes, more than a baseline written by 'batchnn bench "
                   "--json' (at most %zu)", path, b.len, BASELINE_MAX_BYTES);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        cli_die(1, "--baseline %s: out of memory", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *base = json_tokener_parse_ex(tok, (const char *)b.p, (int)b.len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    const size_t len = b.len;
    while (base && err == json_tokener_success && used < len && b.p[used] &&
           strchr(" \t\r\n", b.p[used]))
        used++;
    bnn_bytes_free(&b);
    if (!base || err != json_tokener_success || used != len)
        cli_die(1, "--baseline %s: cannot read it as JSON written by 'batchnn bench --json' "
                   "(%s)", path, base && err == json_tokener_success ? "data after the JSON value"
                                                               : json_tokener_error_desc(err));
    if (!json_object_is_type(base, json_type_object))
        cli_die(1, "--baseline %s: the top level is a JSON %s, not an object", path,
                json_kind(base));
    check_baseline(base, path);
    return base;
}
