/* Fuzz target for the TLS side of peek.c: vps_peek_tls_sni() and vps_peek_protocol() on a
 * connection's first bytes. Each input runs as it is, and again with its record and handshake
 * lengths repaired to fit it as one record, so that mutations reach the ClientHello's own
 * fields and extensions instead of dying at the outer lengths. Beyond "no crash, no read past
 * the input" it checks: a FOUND name is a valid lower-case DNS name, the output is written
 * only on FOUND, an answer other than NEED_MORE never changes when more bytes come, and
 * whatever gives an SNI is also told apart as "tls". */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vps/peek.h"

#include "fuzz-oracle.h"

static void fail(const char *what, size_t len)
{
    fprintf(stderr, "fuzz-sni: %s (input of %zu bytes)\n", what, len);
    abort();
}

static struct answer peek(const uint8_t *data, size_t len)
{
    struct answer a;
    const char *why = peek_checked(vps_peek_tls_sni, dns_name_valid, data, len, &a);

    if (why)
        fail(why, len);
    return a;
}

/* The answer for a prefix is NEED_MORE or the very answer for the whole. */
static void check_prefix(const uint8_t *data, size_t len, size_t cut, const struct answer *full)
{
    struct answer a = peek(data, cut);

    if (a.r != VPS_PEEK_NEED_MORE && !same(&a, full))
        fail("a prefix answers differently from the whole", len);
}

static void check_prefixes(const uint8_t *data, size_t size, const struct answer *full)
{
    if (size <= 128) {
        for (size_t cut = 0; cut < size; cut++)
            check_prefix(data, size, cut, full);
        return;
    }
    check_prefix(data, size, size - 1, full);
    check_prefix(data, size, size / 2, full);
    check_prefix(data, size, 9, full);
    /* the record boundaries, and either side of them */
    for (size_t pos = 0, n = 0; pos + 5 <= size && n < 8; n++) {
        pos += 5 + ((size_t) data[pos + 3] << 8 | data[pos + 4]);
        for (size_t cut = pos - 1; cut <= pos + 1 && cut < size; cut++)
            check_prefix(data, size, cut, full);
    }
}

/* More bytes never change a final answer. */
static void check_extended(const uint8_t *data, size_t size, const struct answer *full)
{
    uint8_t *more = malloc(size + 1);

    if (!more)
        abort();
    memcpy(more, data, size);
    more[size] = size ? data[0] : 0x16;
    struct answer a = peek(more, size + 1);
    if (full->r != VPS_PEEK_NEED_MORE && !same(&a, full))
        fail("more bytes changed a final answer", size);
    free(more);
}

static void check_protocol(const uint8_t *data, size_t size, const struct answer *sni)
{
    const char *proto = NULL;
    enum vps_peek_result r = vps_peek_protocol(data, size, &proto);

    if (r != VPS_PEEK_FOUND && proto)
        fail("protocol written without FOUND", size);
    if (size >= 8 && r == VPS_PEEK_NEED_MORE)
        fail("8 bytes do not tell the protocol", size);
    if (sni->r == VPS_PEEK_FOUND && (r != VPS_PEEK_FOUND || strcmp(proto, "tls") != 0))
        fail("an SNI in something not told apart as TLS", size);
    if (r == VPS_PEEK_NO && sni->r != VPS_PEEK_NO)
        fail("SNI peeking goes on in what is no protocol", size);
    if (r == VPS_PEEK_FOUND && strcmp(proto, "tls") != 0 && sni->r != VPS_PEEK_NO)
        fail("SNI peeking goes on in something that is not TLS", size);
}

static void check(const uint8_t *data, size_t size)
{
    struct answer full = peek(data, size);

    check_prefixes(data, size, &full);
    check_extended(data, size, &full);
    check_protocol(data, size, &full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Past the cap only the first VPS_PEEK_TLS_MAX_BYTES count; a little more checks that. */
    if (size > VPS_PEEK_TLS_MAX_BYTES + 64)
        return 0;
    check(data, size);

    /* The same as one record holding one handshake message of exactly the rest. */
    if (size < 9 || size - 5 > 16384)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    fixed[3] = (uint8_t) ((size - 5) >> 8);
    fixed[4] = (uint8_t) (size - 5);
    fixed[6] = 0;
    fixed[7] = (uint8_t) ((size - 9) >> 8);
    fixed[8] = (uint8_t) (size - 9);
    check(fixed, size);
    free(fixed);
    return 0;
}
