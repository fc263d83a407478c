/* Unit tests for peek.c: protocol signatures, the HTTP Host and the TLS SNI of a connection's
 * first bytes, fed whole, in every prefix, split over records and corrupted. Inputs are exact
 * heap copies, so that ASan reports any read past the end. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vps/peek.h"

#include "test-helpers.h"

/* The first flight of `openssl s_client -servername a.example` (OpenSSL 3.0.19): one record
 * holding a ClientHello of 310 bytes whose server_name is "a.example". */
static const uint8_t captured_hello[] = {
    0x16, 0x03, 0x01, 0x01, 0x36, 0x01, 0x00, 0x01, 0x32, 0x03, 0x03, 0x4b, 0x50, 0xf2, 0x7e, 0xe5,
    0x20, 0x16, 0x2f, 0xe3, 0xb3, 0xa1, 0xb5, 0x42, 0x8b, 0xab, 0x57, 0x53, 0x35, 0xb9, 0x48, 0xb0,
    0xbd, 0x0f, 0xf2, 0x26, 0x37, 0x42, 0x33, 0xe7, 0x80, 0x49, 0xa0, 0x20, 0xd3, 0xbe, 0x40, 0xc1,
    0x6c, 0xe3, 0x86, 0x52, 0x89, 0x2f, 0x71, 0xb4, 0xd1, 0x7f, 0x8b, 0x42, 0x6d, 0x0b, 0x40, 0x31,
    0x51, 0x55, 0x5b, 0x8f, 0x37, 0xaf, 0xf0, 0xa9, 0x71, 0xfc, 0xb3, 0x30, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xab,
    0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70,
    0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14,
    0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08,
    0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
    0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b,
    0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01,
    0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x58, 0x2e, 0xc0, 0x50, 0xe9,
    0x0f, 0x78, 0xd3, 0x02, 0xab, 0xff, 0xb5, 0x55, 0xb8, 0x44, 0xed, 0x0e, 0xfa, 0xed, 0x75, 0x6f,
    0x59, 0x88, 0x78, 0x9c, 0xc9, 0x65, 0xd9, 0x3b, 0xad, 0x80, 0x0d,
};

typedef enum vps_peek_result (*host_fn)(const void *buf, size_t len, char *ret, size_t size);

/* fn on an exact-size heap copy of data[0..len). */
static enum vps_peek_result run(host_fn fn, const void *data, size_t len, char *ret)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, len);
    enum vps_peek_result r = fn(copy, len, ret, VPS_PEEK_HOST_SIZE);
    free(copy);
    return r;
}

static enum vps_peek_result run_protocol(const void *data, size_t len, const char **ret)
{
    uint8_t *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, len);
    enum vps_peek_result r = vps_peek_protocol(copy, len, ret);
    free(copy);
    return r;
}

/* fn finds want in data, needing exactly its first full bytes: every shorter prefix is
 * NEED_MORE, and the output stays untouched until FOUND. */
static void found_after(host_fn fn, const void *data, size_t len, size_t full, const char *want)
{
    char ret[VPS_PEEK_HOST_SIZE];

    for (size_t k = 0; k < full; k++) {
        strcpy(ret, "untouched");
        ck_assert_msg(run(fn, data, k, ret) == VPS_PEEK_NEED_MORE, "prefix %zu of %zu", k, full);
        ck_assert_str_eq(ret, "untouched");
    }
    for (size_t k = full; k <= len; k++) {
        ck_assert_msg(run(fn, data, k, ret) == VPS_PEEK_FOUND, "prefix %zu of %zu", k, len);
        ck_assert_str_eq(ret, want);
    }
}

/* fn says NO to data, and once it has, to every longer prefix too. */
static void refused(host_fn fn, const void *data, size_t len)
{
    char ret[VPS_PEEK_HOST_SIZE] = "untouched";
    bool no = false;

    for (size_t k = 0; k <= len; k++) {
        enum vps_peek_result r = run(fn, data, k, ret);
        ck_assert_msg(r != VPS_PEEK_FOUND, "prefix %zu of %zu found '%s'", k, len, ret);
        ck_assert_msg(!no || r == VPS_PEEK_NO, "prefix %zu of %zu: NO, then not", k, len);
        no = r == VPS_PEEK_NO;
    }
    ck_assert_msg(no, "never refused");
    ck_assert_str_eq(ret, "untouched");
}

/* ---- protocol signatures ---- */

static void protocol_is(const char *data, size_t len, const char *want)
{
    const char *proto = NULL;

    for (size_t k = 0; k < len; k++)
        ck_assert_msg(run_protocol(data, k, &proto) == VPS_PEEK_NEED_MORE, "prefix %zu", k);
    ck_assert_ptr_null(proto);
    ck_assert_int_eq(run_protocol(data, len, &proto), VPS_PEEK_FOUND);
    ck_assert_str_eq(proto, want);
}

static void protocol_no(const void *data, size_t len)
{
    const char *proto = NULL;

    ck_assert_int_eq(run_protocol(data, len, &proto), VPS_PEEK_NO);
    ck_assert_ptr_null(proto);
}

START_TEST(protocol_detects_ssh_banner)
{
    const char *proto = NULL;
    static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

    protocol_is("SSH-", 4, "ssh");
    ck_assert_int_eq(run_protocol(banner, sizeof banner - 1, &proto), VPS_PEEK_FOUND);
    ck_assert_str_eq(proto, "ssh");
}
END_TEST

START_TEST(protocol_detects_tls_client_hello)
{
    const char *proto = NULL;

    protocol_is((const char *) captured_hello, 6, "tls");
    ck_assert_int_eq(run_protocol(captured_hello, sizeof captured_hello, &proto), VPS_PEEK_FOUND);
    ck_assert_str_eq(proto, "tls");
}
END_TEST

START_TEST(protocol_detects_http_methods)
{
    static const char *const methods[] = {"GET ",     "POST ",  "HEAD ",    "PUT ",  "DELETE ",
                                          "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "};
    const char *proto = NULL;

    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        protocol_is(methods[i], strlen(methods[i]), "http");
    ck_assert_int_eq(run_protocol("GET / HTTP/1.1\r\n", 16, &proto), VPS_PEEK_FOUND);
    ck_assert_str_eq(proto, "http");
}
END_TEST

START_TEST(protocol_refuses_other_bytes)
{
    static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02};
    static const uint8_t ssl3[] = {0x16, 0x03, 0x00, 0x00, 0x30, 0x01};
    static const uint8_t tls_future[] = {0x16, 0x03, 0x05, 0x00, 0x30, 0x01};
    static const uint8_t empty_record[] = {0x16, 0x03, 0x01, 0x00, 0x00, 0x01};
    static const uint8_t huge_record[] = {0x16, 0x03, 0x01, 0x41, 0x01, 0x01};
    static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x30, 0x02};
    static const uint8_t sslv2_hello[] = {0x80, 0x2e, 0x01, 0x00, 0x02};

    protocol_no(alert, sizeof alert);
    protocol_no(ssl3, 3);
    protocol_no(tls_future, 3);
    protocol_no(empty_record, sizeof empty_record);
    protocol_no(huge_record, sizeof huge_record);
    protocol_no(server_hello, sizeof server_hello);
    protocol_no(sslv2_hello, sizeof sslv2_hello);
    protocol_no("get / HTTP/1.1\r\n", 16); /* methods are case-sensitive */
    protocol_no("GETX / HTTP/1.1\r\n", 17);
    protocol_no("GET\t/ HTTP/1.1\r\n", 16);
    protocol_no("PRI * HTTP/2.0\r\n", 16); /* the HTTP/2 preface is not HTTP/1.x */
    protocol_no("BREW /pot HTTP/1.1\r\n", 20);
    protocol_no("SSH_2.0\r\n", 9);
    protocol_no("\0\0\0\0", 4);
    protocol_no("\r\n", 2);
}
END_TEST

START_TEST(protocol_needs_bytes_to_decide)
{
    static const uint8_t tls_start[] = {0x16, 0x03, 0x03, 0x01, 0x00};
    const char *proto = NULL;

    ck_assert_int_eq(run_protocol("", 0, &proto), VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run_protocol("P", 1, &proto), VPS_PEEK_NEED_MORE); /* POST, PUT, PATCH */
    ck_assert_int_eq(run_protocol("PU", 2, &proto), VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run_protocol("OPTIONS", 7, &proto), VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run_protocol("SSH", 3, &proto), VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run_protocol(tls_start, sizeof tls_start, &proto), VPS_PEEK_NEED_MORE);
    ck_assert_ptr_null(proto);
}
END_TEST

/* ---- HTTP Host ---- */

static void http_found(const char *req, const char *want)
{
    const char *end = strstr(req, "\r\n\r\n");

    ck_assert_ptr_nonnull(end);
    found_after(vps_peek_http_host, req, strlen(req), (size_t) (end - req) + 4, want);
}

static void http_no(const char *req)
{
    refused(vps_peek_http_host, req, strlen(req));
}

START_TEST(http_host_found_once_head_ends)
{
    http_found("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
    http_found("GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: curl/7.88.1\r\nHost: a.example\r\n"
               "Accept: */*\r\n\r\n",
               "a.example");
    http_found("POST /x HTTP/1.0\r\nContent-Length: 5\r\nHost: www.a.example\r\n\r\nhello",
               "www.a.example");
    http_found("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
    http_found("PROPFIND /dav HTTP/1.1\r\nHost: dav.a.example\r\nDepth: 1\r\n\r\n",
               "dav.a.example");
    http_found("GET / HTTP/1.1\r\nHost: 198.18.0.1\r\n\r\n", "198.18.0.1");
}
END_TEST

START_TEST(http_host_is_normalized)
{
    http_found("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", "a.example");
    http_found("GET / HTTP/1.1\r\nHost: A.Example.COM\r\n\r\n", "a.example.com");
    http_found("GET / HTTP/1.1\r\nhOsT:a.example\r\n\r\n", "a.example");
    http_found("GET / HTTP/1.1\r\nHost:  \t a.example:443 \t \r\n\r\n", "a.example");
    http_found("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n", "xn--bcher-kva.example");
    http_found("GET / HTTP/1.1\r\nHost: a.example:0\r\n\r\n", "a.example");
    http_found("GET / HTTP/1.1\r\nHost: a.example:65535\r\n\r\n", "a.example");
}
END_TEST

START_TEST(http_host_keeps_ipv6_literal_in_brackets)
{
    http_found("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n", "[2001:db8::1]");
    http_found("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "[::1]");
    http_found("GET / HTTP/1.1\r\nHost: [::ffff:198.18.0.1]\r\n\r\n", "[::ffff:198.18.0.1]");
    http_no("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: [zz::1]\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: []\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: [198.18.0.1]\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: [::1]:\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n");
}
END_TEST

START_TEST(http_host_must_be_there_once)
{
    http_no("GET / HTTP/1.1\r\n\r\n");
    http_no("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost:   \r\n\r\n");
    http_no("GET / HTTP/1.1\r\nX-Host: a.example\r\n\r\n");
    /* two Host fields: the router and the service could pick different ones */
    http_no("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: a.example\r\nHOST: a.example\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n");
}
END_TEST

START_TEST(http_host_refuses_bad_names)
{
    static const char *const bad[] = {
        "a_b.example",   "a..example",  ".a.example",  "a.example.",      "-a.example",
        "a-.example",    "a.example:",  "a.example:x", "a.example:65536", "a.example:123456",
        "a.example:1:2", "a example",   "a.éxample",   "user@a.example",  "a.example/x",
        "*.a.example",   "%61.example",
    };
    char req[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        http_no(req);
    }
}
END_TEST

START_TEST(http_host_length_limits)
{
    char label63[64], label64[65], req[1024], want[300];

    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'b', 64);
    label64[64] = '\0';
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s.example\r\n\r\n", label63);
    snprintf(want, sizeof want, "%s.example", label63);
    http_found(req, want);
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s.example\r\n\r\n", label64);
    http_no(req);
    /* 253 characters: 3 labels of 63, one of 61, and dots */
    snprintf(want, sizeof want, "%s.%s.%s.%.61s", label63, label63, label63, label63);
    ck_assert_uint_eq(strlen(want), 253);
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", want);
    http_found(req, want);
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: %s.%s.%s.%.62s\r\n\r\n", label63, label63,
             label63, label63);
    http_no(req);
}
END_TEST

START_TEST(http_head_must_be_strict)
{
    http_no("GET / HTTP/1.1\r\nHost: a.example\r\n X-Folded: b\r\n\r\n"); /* obs-fold */
    http_no("GET / HTTP/1.1\r\n\tHost: a.example\r\n\r\n");
    http_no("GET / HTTP/1.1\r\n Host: a.example\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost : a.example\r\n\r\n"); /* space before the colon */
    http_no("GET / HTTP/1.1\r\nHost: a.example\r\nNo colon here\r\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: a.example\r\n: value\r\n\r\n");
    http_no("GET / HTTP/1.1\nHost: a.example\n\n"); /* bare LF */
    http_no("GET / HTTP/1.1\r\nHost: a.example\n\r\n");
    http_no("GET / HTTP/1.1\r\nHost: a.example\rX: y\r\n\r\n"); /* bare CR */
    http_no("GET / HTTP/1.1\r\nX: a\001b\r\nHost: a.example\r\n\r\n");
    http_no("\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    http_no("GET  / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    http_no("GET / HTTP/1.1 \r\nHost: a.example\r\n\r\n");
    http_no("GET / HTTP/2.0\r\nHost: a.example\r\n\r\n");
    http_no("GET / HTTP/1.10\r\nHost: a.example\r\n\r\n");
    http_no("GET /\r\nHost: a.example\r\n\r\n"); /* HTTP/0.9 */
    http_no("G(T / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    http_no("GET /\x80 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    /* a NUL, which strlen() would hide */
    static const char nul[] = "GET / HTTP/1.1\r\nX: \0\r\nHost: a.example\r\n\r\n";
    refused(vps_peek_http_host, nul, sizeof nul - 1);
}
END_TEST

START_TEST(http_garbage_refused_early)
{
    char ret[VPS_PEEK_HOST_SIZE];

    /* no need to wait for 8 KiB of a client that is clearly not speaking HTTP */
    ck_assert_int_eq(run(vps_peek_http_host, "SSH-2.0-OpenSSH_9.2p1\r\n", 23, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, captured_hello, 3, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, "GET /a b", 8, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, "GET / HTTP/2", 12, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, "GET / HTTP/1.1\r\nX y", 19, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, "GET / HTTP/1.1\r\n ", 17, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, "GET / HTTP/1.1\r\nX: y", 20, ret),
                     VPS_PEEK_NEED_MORE);
}
END_TEST

START_TEST(http_absolute_form_must_agree_with_host)
{
    http_found("GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
    http_found("GET HTTPS://A.example:8443 HTTP/1.1\r\nHost: a.EXAMPLE:8443\r\n\r\n", "a.example");
    http_found("GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
    http_found("GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\n\r\n", "[::1]");
    http_no("GET http://b.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n");
    http_no("GET http://a.example@b.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n");
    http_no("GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n");
    http_no("GET http://a.example/ HTTP/1.1\r\n\r\n");
    /* authority-form (CONNECT) is not absolute-form: Host alone decides */
    http_found("CONNECT b.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "a.example");
}
END_TEST

/* A head of exactly size bytes, its Host a.example, padded with one long field. */
static char *head_of(size_t size)
{
    static const char start[] = "GET / HTTP/1.1\r\nHost: a.example\r\nX-Pad: ";
    char *req = malloc(size + 1);

    ck_assert_ptr_nonnull(req);
    ck_assert_uint_ge(size, sizeof start - 1 + 4);
    memcpy(req, start, sizeof start - 1);
    memset(req + sizeof start - 1, 'p', size - (sizeof start - 1) - 4);
    memcpy(req + size - 4, "\r\n\r\n", 5);
    return req;
}

START_TEST(http_head_is_capped)
{
    char ret[VPS_PEEK_HOST_SIZE];
    char *req = head_of(VPS_PEEK_HTTP_MAX_BYTES);
    size_t big = VPS_PEEK_HTTP_MAX_BYTES * 2;
    char *more = malloc(big);

    ck_assert_int_eq(run(vps_peek_http_host, req, VPS_PEEK_HTTP_MAX_BYTES, ret), VPS_PEEK_FOUND);
    ck_assert_str_eq(ret, "a.example");
    ck_assert_int_eq(run(vps_peek_http_host, req, VPS_PEEK_HTTP_MAX_BYTES - 1, ret),
                     VPS_PEEK_NEED_MORE);
    /* a body beyond the cap does not matter, the head is all that is read */
    ck_assert_ptr_nonnull(more);
    memset(more, 'b', big);
    memcpy(more, req, VPS_PEEK_HTTP_MAX_BYTES);
    ck_assert_int_eq(run(vps_peek_http_host, more, big, ret), VPS_PEEK_FOUND);
    free(req);

    req = head_of(VPS_PEEK_HTTP_MAX_BYTES + 1);
    ck_assert_int_eq(run(vps_peek_http_host, req, VPS_PEEK_HTTP_MAX_BYTES - 1, ret),
                     VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run(vps_peek_http_host, req, VPS_PEEK_HTTP_MAX_BYTES, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_http_host, req, VPS_PEEK_HTTP_MAX_BYTES + 1, ret), VPS_PEEK_NO);
    free(req);
    free(more);
}
END_TEST

/* ---- TLS SNI ---- */

/* A byte writer for ClientHellos, with length prefixes filled in when a vector closes. */
struct writer {
    uint8_t b[64 * 1024];
    size_t n;
};

static void put(struct writer *w, const void *p, size_t n)
{
    ck_assert_uint_le(w->n + n, sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put_uint(struct writer *w, size_t v, size_t bytes)
{
    for (size_t i = bytes; i-- > 0;) {
        uint8_t b = (uint8_t) (v >> (8 * i));
        put(w, &b, 1);
    }
}

static size_t open_vector(struct writer *w, size_t len_bytes)
{
    put_uint(w, 0, len_bytes);
    return w->n;
}

static void close_vector(struct writer *w, size_t start, size_t len_bytes)
{
    size_t len = w->n - start;

    for (size_t i = 0; i < len_bytes; i++)
        w->b[start - len_bytes + i] = (uint8_t) (len >> (8 * (len_bytes - 1 - i)));
}

/* An extension server_name listing the given host names, each with name_type 0. */
static void put_sni(struct writer *w, const char *const *names, size_t n_names)
{
    put_uint(w, 0, 2);
    size_t ext = open_vector(w, 2);
    size_t list = open_vector(w, 2);
    for (size_t i = 0; i < n_names; i++) {
        put_uint(w, 0, 1);
        put_uint(w, strlen(names[i]), 2);
        put(w, names[i], strlen(names[i]));
    }
    close_vector(w, list, 2);
    close_vector(w, ext, 2);
}

static void put_ext(struct writer *w, unsigned type, size_t len)
{
    put_uint(w, type, 2);
    put_uint(w, len, 2);
    for (size_t i = 0; i < len; i++)
        put_uint(w, 0, 1);
}

/* A ClientHello handshake message (header included) whose extension block is exts, as a
 * modern client sends it: random, a 32-byte session id, three suites, null compression. */
static void put_hello(struct writer *w, const struct writer *exts)
{
    static const uint8_t suites[] = {0x13, 0x01, 0x13, 0x02, 0x13, 0x03};

    put_uint(w, 1, 1);
    size_t body = open_vector(w, 3);
    put_uint(w, 0x0303, 2);
    for (size_t i = 0; i < 32; i++)
        put_uint(w, i, 1);
    put_uint(w, 32, 1);
    for (size_t i = 0; i < 32; i++)
        put_uint(w, 0xa0 + i, 1);
    put_uint(w, sizeof suites, 2);
    put(w, suites, sizeof suites);
    put_uint(w, 1, 1);
    put_uint(w, 0, 1);
    size_t ext = open_vector(w, 2);
    put(w, exts->b, exts->n);
    close_vector(w, ext, 2);
    close_vector(w, body, 3);
}

/* msg in TLS 1.0 handshake records of at most frag bytes each. */
static void put_records(struct writer *w, const struct writer *msg, size_t frag)
{
    for (size_t off = 0; off < msg->n; off += frag) {
        size_t n = msg->n - off < frag ? msg->n - off : frag;
        put_uint(w, 22, 1);
        put_uint(w, 0x0301, 2);
        put_uint(w, n, 2);
        put(w, msg->b + off, n);
    }
}

/* A whole first flight: one record, the hello's extensions being server_name for names
 * between two others. */
static struct writer *flight(const char *const *names, size_t n_names, size_t frag)
{
    static struct writer exts, msg;
    struct writer *w = calloc(1, sizeof *w);

    ck_assert_ptr_nonnull(w);
    exts.n = msg.n = 0;
    put_ext(&exts, 10, 4); /* supported_groups, contents immaterial here */
    if (names)
        put_sni(&exts, names, n_names);
    put_ext(&exts, 43, 3);
    put_hello(&msg, &exts);
    put_records(w, &msg, frag);
    return w;
}

static void sni_found(const struct writer *w, const char *want)
{
    found_after(vps_peek_tls_sni, w->b, w->n, w->n, want);
}

static void sni_no(const struct writer *w)
{
    refused(vps_peek_tls_sni, w->b, w->n);
}

START_TEST(sni_found_in_captured_hello)
{
    found_after(vps_peek_tls_sni, captured_hello, sizeof captured_hello, sizeof captured_hello,
                "a.example");
}
END_TEST

START_TEST(sni_found_in_built_hello)
{
    static const char *const one[] = {"panel.a.example"};
    static const char *const upper[] = {"Panel.A.EXAMPLE"};
    struct writer *w = flight(one, 1, 16384);

    sni_found(w, "panel.a.example");
    free(w);
    w = flight(upper, 1, 16384);
    sni_found(w, "panel.a.example");
    free(w);
}
END_TEST

START_TEST(sni_hello_reassembled_from_records)
{
    static const char *const one[] = {"a.example"};
    char ret[VPS_PEEK_HOST_SIZE];

    for (size_t frag = 1; frag <= 200; frag++) {
        struct writer *w = flight(one, 1, frag);
        ck_assert_int_eq(run(vps_peek_tls_sni, w->b, w->n, ret), VPS_PEEK_FOUND);
        ck_assert_str_eq(ret, "a.example");
        free(w);
    }
    struct writer *w = flight(one, 1, 7);
    sni_found(w, "a.example");
    free(w);
}
END_TEST

START_TEST(sni_ignores_what_follows_the_hello)
{
    char ret[VPS_PEEK_HOST_SIZE];
    uint8_t *data = malloc(sizeof captured_hello + 100);

    ck_assert_ptr_nonnull(data);
    memcpy(data, captured_hello, sizeof captured_hello);
    memset(data + sizeof captured_hello, 0xee, 100); /* not even a record */
    ck_assert_int_eq(run(vps_peek_tls_sni, data, sizeof captured_hello + 100, ret), VPS_PEEK_FOUND);
    ck_assert_str_eq(ret, "a.example");
    free(data);
}
END_TEST

START_TEST(sni_large_hello_within_caps)
{
    static const char *const one[] = {"a.example"};
    static struct writer exts, msg;
    struct writer *w = calloc(1, sizeof *w);
    char ret[VPS_PEEK_HOST_SIZE];

    /* padding (21) up to a hello of exactly VPS_PEEK_TLS_HELLO_MAX_BYTES, in two records */
    ck_assert_ptr_nonnull(w);
    put_sni(&exts, one, 1);
    put_hello(&msg, &exts);
    put_ext(&exts, 21, VPS_PEEK_TLS_HELLO_MAX_BYTES - msg.n - 4);
    msg.n = 0;
    put_hello(&msg, &exts);
    ck_assert_uint_eq(msg.n, VPS_PEEK_TLS_HELLO_MAX_BYTES);
    put_records(w, &msg, 16000);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, w->n, ret), VPS_PEEK_FOUND);
    ck_assert_str_eq(ret, "a.example");
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, w->n - 1, ret), VPS_PEEK_NEED_MORE);

    /* one byte more is refused as soon as the handshake header shows it */
    exts.n = msg.n = w->n = 0;
    put_sni(&exts, one, 1);
    put_hello(&msg, &exts);
    put_ext(&exts, 21, VPS_PEEK_TLS_HELLO_MAX_BYTES - msg.n - 4 + 1);
    msg.n = 0;
    put_hello(&msg, &exts);
    ck_assert_uint_eq(msg.n, VPS_PEEK_TLS_HELLO_MAX_BYTES + 1);
    put_records(w, &msg, 16000);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, 8, ret), VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, 9, ret), VPS_PEEK_NO);

    /* a small hello in so many records that they pass the input cap */
    free(w);
    w = flight(one, 1, 1);
    ck_assert_uint_lt(w->n, VPS_PEEK_TLS_MAX_BYTES);
    free(w);
    exts.n = msg.n = 0;
    put_sni(&exts, one, 1);
    put_ext(&exts, 21, 3000);
    put_hello(&msg, &exts);
    w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    put_records(w, &msg, 1);
    ck_assert_uint_gt(w->n, VPS_PEEK_TLS_MAX_BYTES);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, VPS_PEEK_TLS_MAX_BYTES - 1, ret),
                     VPS_PEEK_NEED_MORE);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, VPS_PEEK_TLS_MAX_BYTES, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, w->n, ret), VPS_PEEK_NO);
    free(w);
}
END_TEST

START_TEST(sni_refused_without_exactly_one_name)
{
    static const char *const two[] = {"a.example", "b.example"};
    struct writer *w = flight(NULL, 0, 16384);

    sni_no(w); /* extensions, but no server_name */
    free(w);
    w = flight(two, 2, 16384);
    sni_no(w);
    free(w);
    w = flight(two, 0, 16384); /* an empty ServerNameList */
    sni_no(w);
    free(w);

    static struct writer exts, msg;
    static const char *const one[] = {"a.example"};
    exts.n = msg.n = 0;
    put_sni(&exts, one, 1);
    put_sni(&exts, one, 1);
    put_hello(&msg, &exts);
    w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    put_records(w, &msg, 16384);
    sni_no(w); /* the extension twice, even naming the same host */
    free(w);
}
END_TEST

START_TEST(sni_skips_unknown_name_types)
{
    static struct writer exts, msg;
    struct writer *w = calloc(1, sizeof *w);

    ck_assert_ptr_nonnull(w);
    put_uint(&exts, 0, 2);
    size_t ext = open_vector(&exts, 2);
    size_t list = open_vector(&exts, 2);
    put_uint(&exts, 7, 1); /* a name type of the future */
    put_uint(&exts, 3, 2);
    put(&exts, "xyz", 3);
    put_uint(&exts, 0, 1);
    put_uint(&exts, 9, 2);
    put(&exts, "a.example", 9);
    close_vector(&exts, list, 2);
    close_vector(&exts, ext, 2);
    put_hello(&msg, &exts);
    put_records(w, &msg, 16384);
    sni_found(w, "a.example");
    free(w);
}
END_TEST

START_TEST(sni_refuses_bad_names)
{
    static const char *const bad[] = {"a..example", "a.example.", "a_b.example",
                                      "[::1]",      "-a.example", "a.ex ample",
                                      "",           "*.a.example"};
    char long_name[300];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct writer *w = flight(&bad[i], 1, 16384);
        sni_no(w);
        free(w);
    }
    memset(long_name, 'a', sizeof long_name);
    for (size_t i = 63; i < 254; i += 64)
        long_name[i] = '.';
    long_name[254] = '\0';
    const char *name = long_name;
    struct writer *w = flight(&name, 1, 16384);
    sni_no(w);
    free(w);
    long_name[253] = '\0';
    w = flight(&name, 1, 16384);
    sni_found(w, long_name);
    free(w);
}
END_TEST

/* The captured hello with byte at replaced by v. */
static enum vps_peek_result sni_patched(size_t at, uint8_t v, char *ret)
{
    uint8_t copy[sizeof captured_hello];

    memcpy(copy, captured_hello, sizeof copy);
    copy[at] = v;
    return run(vps_peek_tls_sni, copy, sizeof copy, ret);
}

START_TEST(sni_refuses_bad_records)
{
    char ret[VPS_PEEK_HOST_SIZE];

    ck_assert_int_eq(sni_patched(0, 23, ret), VPS_PEEK_NO); /* application data */
    ck_assert_int_eq(sni_patched(1, 0x02, ret), VPS_PEEK_NO);
    ck_assert_int_eq(sni_patched(2, 0x00, ret), VPS_PEEK_NO); /* SSL 3.0 */
    ck_assert_int_eq(sni_patched(2, 0x05, ret), VPS_PEEK_NO);
    ck_assert_int_eq(sni_patched(5, 2, ret), VPS_PEEK_NO);    /* ServerHello */
    ck_assert_int_eq(sni_patched(9, 0x02, ret), VPS_PEEK_NO); /* legacy_version 0x0203 */

    static const uint8_t empty_record[] = {22, 3, 1, 0, 0};
    static const uint8_t huge_record[] = {22, 3, 1, 0x41, 0x01};
    ck_assert_int_eq(run(vps_peek_tls_sni, empty_record, 5, ret), VPS_PEEK_NO);
    ck_assert_int_eq(run(vps_peek_tls_sni, huge_record, 5, ret), VPS_PEEK_NO);
    /* the second record of a split hello must be a handshake record too */
    static const char *const one[] = {"a.example"};
    struct writer *w = flight(one, 1, 50);
    w->b[5 + 50] = 21;
    sni_no(w);
    free(w);
}
END_TEST

/* Every length field of the captured hello, and every other byte, set to other values: no
 * read past the input (ASan), and never a name other than the real one or a valid one. */
START_TEST(sni_survives_corrupted_lengths)
{
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    char ret[VPS_PEEK_HOST_SIZE];

    for (size_t at = 0; at < sizeof captured_hello; at++) {
        for (size_t v = 0; v < sizeof values + 2; v++) {
            uint8_t value = v < sizeof values    ? values[v]
                            : v == sizeof values ? captured_hello[at] + 1
                                                 : captured_hello[at] - 1;
            if (sni_patched(at, value, ret) != VPS_PEEK_FOUND)
                continue;
            ck_assert_uint_lt(strlen(ret), VPS_PEEK_HOST_SIZE);
            for (const char *c = ret; *c; c++)
                ck_assert_msg((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                                  *c == '.',
                              "byte %zu = %#x: '%s'", at, value, ret);
        }
    }
    /* the server_name lengths (list, entry) one too long and one too short */
    static const size_t sni_lengths[] = {0x93, 0x95, 0x98}; /* extension, list, name */
    for (size_t i = 0; i < sizeof sni_lengths / sizeof sni_lengths[0]; i++) {
        uint8_t b = captured_hello[sni_lengths[i]];
        ck_assert_int_eq(sni_patched(sni_lengths[i], b + 1, ret), VPS_PEEK_NO);
        ck_assert_int_eq(sni_patched(sni_lengths[i], b - 1, ret), VPS_PEEK_NO);
    }
}
END_TEST

START_TEST(sni_refuses_hello_without_extensions)
{
    static struct writer exts, msg;
    struct writer *w = calloc(1, sizeof *w);
    char ret[VPS_PEEK_HOST_SIZE];

    ck_assert_ptr_nonnull(w);
    put_hello(&msg, &exts);
    msg.n -= 2;    /* drop the empty extension block... */
    msg.b[3] -= 2; /* ...and its length from the handshake length */
    put_records(w, &msg, 16384);
    ck_assert_int_eq(run(vps_peek_tls_sni, w->b, w->n, ret), VPS_PEEK_NO);
    free(w);
}
END_TEST

/* ---- host patterns ---- */

START_TEST(match_host_exact_and_one_label_wildcard)
{
    ck_assert(vps_peek_match_host("a.example", "a.example"));
    ck_assert(!vps_peek_match_host("a.example", "b.example"));
    ck_assert(!vps_peek_match_host("a.example", "x.a.example"));
    ck_assert(vps_peek_match_host("*.a.example", "www.a.example"));
    ck_assert(vps_peek_match_host("*.a.example", "w-1.a.example"));
    ck_assert(!vps_peek_match_host("*.a.example", "a.example"));
    ck_assert(!vps_peek_match_host("*.a.example", "x.www.a.example"));
    ck_assert(!vps_peek_match_host("*.a.example", "wwwa.example"));
    ck_assert(!vps_peek_match_host("*.a.example", "www.xa.example"));
    ck_assert(!vps_peek_match_host("*.a.example", ".a.example"));
    ck_assert(!vps_peek_match_host("*.", "a."));
    ck_assert(!vps_peek_match_host("*.a.example", "[::1]"));
    ck_assert(vps_peek_match_host("[::1]", "[::1]"));
}
END_TEST

static Suite *peek_suite(void)
{
    Suite *s = suite_create("peek");
    TCase *tc = tcase_create("peek");

    tcase_add_test(tc, protocol_detects_ssh_banner);
    tcase_add_test(tc, protocol_detects_tls_client_hello);
    tcase_add_test(tc, protocol_detects_http_methods);
    tcase_add_test(tc, protocol_refuses_other_bytes);
    tcase_add_test(tc, protocol_needs_bytes_to_decide);
    tcase_add_test(tc, http_host_found_once_head_ends);
    tcase_add_test(tc, http_host_is_normalized);
    tcase_add_test(tc, http_host_keeps_ipv6_literal_in_brackets);
    tcase_add_test(tc, http_host_must_be_there_once);
    tcase_add_test(tc, http_host_refuses_bad_names);
    tcase_add_test(tc, http_host_length_limits);
    tcase_add_test(tc, http_head_must_be_strict);
    tcase_add_test(tc, http_garbage_refused_early);
    tcase_add_test(tc, http_absolute_form_must_agree_with_host);
    tcase_add_test(tc, http_head_is_capped);
    tcase_add_test(tc, sni_found_in_captured_hello);
    tcase_add_test(tc, sni_found_in_built_hello);
    tcase_add_test(tc, sni_hello_reassembled_from_records);
    tcase_add_test(tc, sni_ignores_what_follows_the_hello);
    tcase_add_test(tc, sni_large_hello_within_caps);
    tcase_add_test(tc, sni_refused_without_exactly_one_name);
    tcase_add_test(tc, sni_skips_unknown_name_types);
    tcase_add_test(tc, sni_refuses_bad_names);
    tcase_add_test(tc, sni_refuses_bad_records);
    tcase_add_test(tc, sni_survives_corrupted_lengths);
    tcase_add_test(tc, sni_refuses_hello_without_extensions);
    tcase_add_test(tc, match_host_exact_and_one_label_wildcard);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(peek_suite(), CK_FORK_GETENV);
}
