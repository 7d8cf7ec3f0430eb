/*
 * ioutil.c - small helpers every reader and writer shares: text quoted for a one-line
 * message, a message about a file, the ".npy" suffix test, little-endian byte order
 * (io/bnn_io.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/bnn_io.h"

const char *bnn_quote(char *out, size_t cap, const void *text, size_t n, size_t maxin)
{
    const unsigned char *s = text;
    size_t o = 0, i = 0;
    if (cap < 16) {
        if (cap)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    /* room kept for one escape (4), the closing quote, "..." and the NUL */
    for (; i < n && i < maxin && o + 9 < cap; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o++] = '"';
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* 1 when s[0..n) prints as itself: well-formed UTF-8 without C0 or C1 control characters
 * or DEL (so no escape sequence, newline or overlong form reaches a terminal). */
static int plain_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        unsigned cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

const char *bnn_printable(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (plain_text((const unsigned char *)s, n))
        return s;
    return bnn_quote(out, cap, s, n, cap);
}

int bnn_path_is_npy(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".npy") == 0;
}

size_t bnn_take_peeked(const unsigned char *head, size_t nhead, size_t *pos, void *buf,
                       size_t n)
{
    if (*pos >= nhead)
        return 0;
    const size_t k = nhead - *pos < n ? nhead - *pos : n;
    memcpy(buf, head + *pos, k);
    *pos += k;
    return k;
}

uint64_t bnn_get_le(const void *p, int bytes)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

void bnn_put_le(void *p, uint64_t v, int bytes)
{
    unsigned char *b = p;
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

int bnn_fail_file(bnn_error *e, const char *path, const char *fmt, ...)
{
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return bnn_fail(e, "%s: %s", path, buf);
}
