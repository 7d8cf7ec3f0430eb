/*
 * names.c - the one name-to-enum lookup: activations, losses, optimizers, gradients and
 * engines each keep a table of their names (index = enum value) and aliases, and parse and
 * print through here.
 */
#include <string.h>

#include "core/bnn_core.h"

int bnn_names_find(const bnn_names *t, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < t->n; i++)
        if (strcmp(s, t->names[i]) == 0)
            return i;
    for (const bnn_name_alias *a = t->aliases; a && a->alias; a++)
        if (strcmp(s, a->alias) == 0)
            return a->index;
    return -1;
}

const char *bnn_names_of(const bnn_names *t, int i)
{
    return i >= 0 && i < t->n ? t->names[i] : "?";
}
