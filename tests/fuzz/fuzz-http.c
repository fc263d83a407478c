/* Fuzz target for the HTTP side of peek.c: vps_peek_http_host() and vps_peek_protocol() on
 * a connection's first bytes. Beyond "no crash, no read past the input" it checks what the
 * activator relies on when it peeks again and again as bytes arrive: a FOUND name is a valid
 * lower-case host, the output is written only on FOUND, an answer other than NEED_MORE never
 * changes when more bytes come, and a head that has ended is never NEED_MORE. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vps/peek.h"

#include "fuzz-oracle.h"

static void fail(const char *what, const uint8_t *data, size_t len)
{
    fprintf(stderr, "fuzz-http: %s (input of %zu bytes: '%.*s')\n", what, len,
            (int) (len < 200 ? len : 200), (const char *) data);
    abort();
}

static bool host_valid(const char *s)
{
    char inner[VPS_PEEK_HOST_SIZE];
    struct in6_addr addr;
    size_t len = strlen(s);

    if (s[0] != '[')
        return dns_name_valid(s);
    if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof inner)
        return false;
    memcpy(inner, s + 1, len - 2);
    inner[len - 2] = '\0';
    for (const char *c = inner; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            return false;
    return inet_pton(AF_INET6, inner, &addr) == 1;
}

static struct answer peek(const uint8_t *data, size_t len)
{
    struct answer a;
    const char *why = peek_checked(vps_peek_http_host, host_valid, data, len, &a);

    if (why)
        fail(why, data, len);
    return a;
}

/* The answer for a prefix is NEED_MORE or the very answer for the whole. */
static void check_prefix(const uint8_t *data, size_t len, size_t cut, const struct answer *full)
{
    struct answer a = peek(data, cut);

    if (a.r == VPS_PEEK_NEED_MORE)
        return;
    if (!same(&a, full))
        fail("a prefix answers differently from the whole", data, len);
}

static void check_prefixes(const uint8_t *data, size_t size, const struct answer *full)
{
    if (size <= 256) {
        for (size_t cut = 0; cut < size; cut++)
            check_prefix(data, size, cut, full);
        return;
    }
    check_prefix(data, size, size - 1, full);
    check_prefix(data, size, size / 2, full);
    check_prefix(data, size, size / 4, full);
    /* each line end, where most decisions are taken */
    for (size_t i = 1, n = 0; i < size && n < 16; i++)
        if (data[i] == '\n') {
            check_prefix(data, size, i, full);
            check_prefix(data, size, i + 1, full);
            n++;
        }
}

/* More bytes never change a final answer, and ending the head gives one. */
static void check_extended(const uint8_t *data, size_t size, const struct answer *full)
{
    static const char end[] = "\r\n\r\n";
    uint8_t *more = malloc(size + sizeof end - 1);

    if (!more)
        abort();
    memcpy(more, data, size);
    memcpy(more + size, end, sizeof end - 1);
    struct answer a = peek(more, size + sizeof end - 1);
    if (full->r != VPS_PEEK_NEED_MORE && !same(&a, full))
        fail("more bytes changed a final answer", data, size);
    if (a.r == VPS_PEEK_NEED_MORE)
        fail("an ended head still needs more", data, size);
    free(more);
}

static void check_protocol(const uint8_t *data, size_t size, const struct answer *http)
{
    const char *proto = NULL, *again = NULL;
    enum vps_peek_result r = vps_peek_protocol(data, size, &proto);

    if (r == VPS_PEEK_FOUND && strcmp(proto, "ssh") != 0 && strcmp(proto, "tls") != 0 &&
        strcmp(proto, "http") != 0)
        fail("unknown protocol", data, size);
    if (r != VPS_PEEK_FOUND && proto)
        fail("protocol written without FOUND", data, size);
    if (size >= 8 && r == VPS_PEEK_NEED_MORE)
        fail("8 bytes do not tell the protocol", data, size);
    for (size_t cut = 0; cut < size && cut < 16; cut++) {
        enum vps_peek_result p = vps_peek_protocol(data, cut, &again);
        if (p != VPS_PEEK_NEED_MORE &&
            (p != r || (p == VPS_PEEK_FOUND && strcmp(again, proto) != 0)))
            fail("a prefix tells another protocol", data, size);
    }
    if (r == VPS_PEEK_FOUND && strcmp(proto, "tls") == 0 && http->r != VPS_PEEK_NO)
        fail("a TLS hello is taken for HTTP", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Past the cap only the first VPS_PEEK_HTTP_MAX_BYTES count; a little more checks that. */
    if (size > VPS_PEEK_HTTP_MAX_BYTES + 64)
        return 0;
    struct answer full = peek(data, size);
    check_prefixes(data, size, &full);
    check_extended(data, size, &full);
    check_protocol(data, size, &full);
    return 0;
}
