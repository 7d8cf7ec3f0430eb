/*
 * arch.c - architectures: widths, activations, biases, and the parameter layout
 * (per layer W [out x in] row-major, then b [out]) shared by every engine and by the files.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bnn_core.h"

static const char *const act_names[BNN_ACT_COUNT] = {"identity", "sigmoid", "tanh", "relu"};
static const bnn_name_alias act_aliases[] = {
    {"linear", BNN_ACT_IDENTITY}, {"none", BNN_ACT_IDENTITY}, {NULL, 0}};
static const bnn_names acts = {act_names, BNN_ACT_COUNT, act_aliases};

const char *bnn_act_name(bnn_act a)
{
    return bnn_names_of(&acts, (int)a);
}

int bnn_act_parse(const char *s, bnn_act *out)
{
    const int i = bnn_names_find(&acts, s);
    if (i >= 0)
        *out = (bnn_act)i;
    return i >= 0 ? 0 : -1;
}

/* Splits s at commas into at most max trimmed tokens (in buf); returns the count or -1. */
static int split_list(const char *s, char *buf, size_t buflen, char **tok, int max)
{
    size_t len = strlen(s);
    if (len + 1 > buflen)
        return -1;
    memcpy(buf, s, len + 1);
    int n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (n == max)
            return -1;
        tok[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return n;
}

int bnn_act_list_parse(const char *s, int m, int allow_one, bnn_act *act, int *count,
                       const char **bad, size_t *bad_len)
{
    size_t commas = 0;
    for (const char *p = s; *p; p++)
        commas += *p == ',';
    int names = commas < (size_t)INT_MAX ? (int)commas + 1 : INT_MAX;
    *count = names;
    if (names != m && !(allow_one && names == 1))
        return -1;
    const char *p = s;
    for (int i = 0; i < names; i++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        char tok[32];
        size_t len = (size_t)(b - a);
        bnn_act x;
        int known = len < sizeof tok;
        if (known) {
            memcpy(tok, a, len);
            tok[len] = '\0';
            known = bnn_act_parse(tok, &x) == 0;
        }
        if (!known) {
            *bad = a;
            *bad_len = len;
            return -2;
        }
        for (int l = names == 1 ? 0 : i; l < (names == 1 ? m : i + 1); l++)
            act[l] = x;
        p = end + (*end != '\0');
    }
    return 0;
}

int bnn_arch_parse(bnn_arch *a, const char *widths, const char *acts, int bias, bnn_error *e)
{
    memset(a, 0, sizeof *a);
    char local[16384];
    char *tok[BNN_MAX_LAYERS + 2];
    int n = split_list(widths, local, sizeof local, tok, BNN_MAX_LAYERS + 2);
    if (n < 0)
        return bnn_fail(e, "widths: too many layers (at most %d)", BNN_MAX_LAYERS);
    if (n < 2)
        return bnn_fail(e, "widths '%s': give at least two widths, inputs and outputs, "
                           "e.g. 2,16,1", widths);
    if (n - 1 > BNN_MAX_LAYERS)
        return bnn_fail(e, "widths: too many layers (%d, at most %d)", n - 1, BNN_MAX_LAYERS);
    a->nlayers = n - 1;
    for (int i = 0; i < n; i++) {
        char *end = NULL;
        errno = 0;
        if (!isdigit((unsigned char)tok[i][0]))
            return bnn_fail(e, "widths: width %d is '%s', not a positive whole number", i + 1,
                            tok[i]);
        long long v = strtoll(tok[i], &end, 10);
        if (*end != '\0')
            return bnn_fail(e, "widths: width %d is '%s', not a positive whole number", i + 1,
                            tok[i]);
        if (errno == ERANGE || v > BNN_MAX_WIDTH)
            return bnn_fail(e, "widths: width %d (%s) is larger than the limit %lld", i + 1,
                            tok[i], (long long)BNN_MAX_WIDTH);
        if (v < 1)
            return bnn_fail(e, "widths: width %d is %lld; widths must be at least 1", i + 1, v);
        a->width[i] = v;
    }
    for (int l = 0; l < a->nlayers; l++) {
        a->act[l] = BNN_ACT_SIGMOID;
        a->bias[l] = bias ? 1 : 0;
    }
    if (acts) {
        int k = 0;
        const char *bad = NULL;
        size_t blen = 0;
        int r = bnn_act_list_parse(acts, a->nlayers, 1, a->act, &k, &bad, &blen);
        if (r == -1)
            return bnn_fail(e, "activations: %d names for %d layers; give one name for all layers "
                               "or one per layer", k, a->nlayers);
        if (r == -2)
            return bnn_fail(e, "activations: unknown activation '%.*s' (known: identity, sigmoid, "
                               "tanh, relu)", blen > 200 ? 200 : (int)blen, bad);
    }
    return bnn_arch_check(a, e);
}

int bnn_arch_check(const bnn_arch *a, bnn_error *e)
{
    if (a->nlayers < 1 || a->nlayers > BNN_MAX_LAYERS)
        return bnn_fail(e, "architecture: %d layers (1 to %d allowed)", a->nlayers,
                        BNN_MAX_LAYERS);
    for (int i = 0; i <= a->nlayers; i++)
        if (a->width[i] < 1 || a->width[i] > BNN_MAX_WIDTH)
            return bnn_fail(e, "architecture: width %d is %lld (1 to %lld allowed)", i,
                            (long long)a->width[i], (long long)BNN_MAX_WIDTH);
    for (int l = 0; l < a->nlayers; l++) {
        if ((unsigned)a->act[l] >= BNN_ACT_COUNT)
            return bnn_fail(e, "architecture: layer %d has an unknown activation", l);
        if (a->bias[l] > 1)
            return bnn_fail(e, "architecture: layer %d has an invalid bias flag", l);
    }
    /* widths are <= 2^24, so one layer has < 2^48 + 2^24 parameters: the sum over at most
     * 256 layers stays below 2^57 and cannot overflow 64 bits. */
    uint64_t total = 0;
    for (int l = 0; l < a->nlayers; l++)
        total += (uint64_t)a->width[l] * (uint64_t)a->width[l + 1] +
                 (a->bias[l] ? (uint64_t)a->width[l + 1] : 0);
    if (total > SIZE_MAX / (2 * sizeof(double)))
        return bnn_fail(e, "architecture: %llu parameters cannot be addressed",
                        (unsigned long long)total);
    return 0;
}

size_t bnn_arch_weight_offset(const bnn_arch *a, int l)
{
    size_t off = 0;
    for (int k = 0; k < l; k++)
        off += (size_t)a->width[k] * (size_t)a->width[k + 1] +
               (a->bias[k] ? (size_t)a->width[k + 1] : 0);
    return off;
}

size_t bnn_arch_bias_offset(const bnn_arch *a, int l)
{
    if (!a->bias[l])
        return (size_t)-1;
    return bnn_arch_weight_offset(a, l) + (size_t)a->width[l] * (size_t)a->width[l + 1];
}

size_t bnn_arch_nparams(const bnn_arch *a)
{
    return bnn_arch_weight_offset(a, a->nlayers);
}

int64_t bnn_arch_max_width(const bnn_arch *a)
{
    int64_t w = 0;
    for (int i = 0; i <= a->nlayers; i++)
        if (a->width[i] > w)
            w = a->width[i];
    return w;
}

void bnn_arch_format(const bnn_arch *a, char *widths, size_t wlen, char *acts, size_t alen)
{
    size_t p = 0;
    if (widths && wlen) {
        widths[0] = '\0';
        for (int i = 0; i <= a->nlayers && p < wlen; i++) {
            int k = snprintf(widths + p, wlen - p, "%s%lld", i ? "," : "",
                             (long long)a->width[i]);
            if (k < 0)
                break;
            p += (size_t)k;
        }
    }
    p = 0;
    if (acts && alen) {
        acts[0] = '\0';
        for (int l = 0; l < a->nlayers && p < alen; l++) {
            int k = snprintf(acts + p, alen - p, "%s%s", l ? "," : "", bnn_act_name(a->act[l]));
            if (k < 0)
                break;
            p += (size_t)k;
        }
    }
}
