/* What the peek fuzz targets (fuzz-http.c, fuzz-sni.c) share: a host-name oracle written
 * apart from peek.c, so that a parser bug is not checked by the same bug, and the marker a
 * result buffer holds until a parser writes to it. */
#pragma once

#include <stdbool.h>
#include <string.h>

#define SENTINEL "\x01untouched"

/* An oracle written apart from peek.c: labels of [a-z0-9-], not starting or ending in '-',
 * 1..63 long, joined by single dots, 253 at most. */
static inline bool dns_name_valid(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (s[i] == '.' || s[i] == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                   (s[i] == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}
