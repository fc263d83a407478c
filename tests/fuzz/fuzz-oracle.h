/* What the peek fuzz targets (fuzz-http.c, fuzz-sni.c) share: a host-name oracle written
 * apart from peek.c, so that a parser bug is not checked by the same bug, the marker a
 * result buffer holds until a parser writes to it, and the checks every host-peeking
 * function must pass. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vps/peek.h"

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

struct answer {
    enum vps_peek_result r;
    char host[VPS_PEEK_HOST_SIZE];
};

typedef enum vps_peek_result (*peek_host_fn)(const void *buf, size_t len, char *ret, size_t size);

/* Runs fn on data into *a and checks what each host-peeking function promises: output only
 * with FOUND, then a NUL-terminated host that valid() takes and that matches itself. NULL
 * when all holds, else what broke. */
static inline const char *peek_checked(peek_host_fn fn, bool (*valid)(const char *),
                                       const uint8_t *data, size_t len, struct answer *a)
{
    memcpy(a->host, SENTINEL, sizeof SENTINEL);
    a->r = fn(data, len, a->host, sizeof a->host);
    if (a->r != VPS_PEEK_FOUND)
        return memcmp(a->host, SENTINEL, sizeof SENTINEL) != 0 ? "output written without FOUND"
                                                               : NULL;
    if (!memchr(a->host, '\0', sizeof a->host) || !valid(a->host))
        return "FOUND an invalid host";
    if (!vps_peek_match_host(a->host, a->host))
        return "a host does not match itself";
    return NULL;
}

/* The same answer: result, and the host when FOUND. */
static inline bool same(const struct answer *a, const struct answer *b)
{
    return a->r == b->r && (a->r != VPS_PEEK_FOUND || strcmp(a->host, b->host) == 0);
}
