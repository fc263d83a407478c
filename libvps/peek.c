/* Parsers for the first bytes of a connection on a shared front address: protocol signature,
 * HTTP/1.x Host and TLS ClientHello SNI, for routing. No library fits (they parse whole
 * messages from a socket, not a peeked prefix), so every read is bounds-checked and the input
 * capped here; tests/fuzz/fuzz-http.c and fuzz-sni.c cover it. The MSG_PEEK loop, its timeout
 * and the choice of route are the activator's. */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "vps/peek.h"

#define TLS_CONTENT_HANDSHAKE    22
#define TLS_HANDSHAKE_HELLO      1
#define TLS_RECORD_HEADER_BYTES  5
#define TLS_RECORD_MAX_BYTES     (16384 + 256)
#define TLS_EXT_SERVER_NAME      0
#define TLS_SERVER_NAME_HOSTNAME 0
#define DNS_NAME_MAX             253
#define DNS_LABEL_MAX            63

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ASCII only, whatever the locale. */
static bool is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char to_lower(uint8_t c)
{
    return (char) (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* RFC 9110 tchar: the characters of a method or a header field name. */
static bool is_tchar(uint8_t c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* s[0..n) starts like sig: NO if not, NEED_MORE if too short to tell, FOUND if it does. */
static enum vps_peek_result starts_like(const uint8_t *s, size_t n, const char *sig)
{
    size_t sig_len = strlen(sig);

    if (memcmp(s, sig, min_size(n, sig_len)) != 0)
        return VPS_PEEK_NO;
    return n < sig_len ? VPS_PEEK_NEED_MORE : VPS_PEEK_FOUND;
}

/* ---- host names ---- */

/* A DNS name: labels of letters, digits and inner hyphens, 1..63 characters each, separated
 * by single dots, at most 253 in all (no trailing dot). */
static bool dns_name_ok(const uint8_t *s, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > DNS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
            if (++label > DNS_LABEL_MAX)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* "[" IPv6 address "]", without a zone id. */
static bool ipv6_literal_ok(const uint8_t *s, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;

    if (n < 4 || n - 2 >= sizeof text || s[0] != '[' || s[n - 1] != ']')
        return false;
    for (size_t i = 1; i < n - 1; i++)
        if (!(is_alnum(s[i]) || s[i] == ':' || s[i] == '.'))
            return false;
    memcpy(text, s + 1, n - 2);
    text[n - 2] = '\0';
    return inet_pton(AF_INET6, text, &addr) == 1;
}

/* Copies a validated name of n < VPS_PEEK_HOST_SIZE bytes, lower-cased. */
static void copy_lower(const uint8_t *s, size_t n, char *ret)
{
    for (size_t i = 0; i < n; i++)
        ret[i] = to_lower(s[i]);
    ret[n] = '\0';
}

/* 1..5 digits, at most 65535. */
static bool port_ok(const uint8_t *s, size_t n)
{
    unsigned long port = 0;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        port = port * 10 + (s[i] - '0');
    }
    return port <= 65535;
}

/* An RFC 3986 host [":" port] as in Host or a URI's authority: the host, validated and
 * lower-cased, into ret (VPS_PEEK_HOST_SIZE bytes). */
static bool parse_host_port(const uint8_t *s, size_t n, char *ret)
{
    size_t host_len;

    if (n > 0 && s[0] == '[') {
        const uint8_t *close = memchr(s, ']', n);
        if (!close)
            return false;
        host_len = (size_t) (close - s) + 1;
        if (!ipv6_literal_ok(s, host_len))
            return false;
    } else {
        const uint8_t *colon = memchr(s, ':', n);
        host_len = colon ? (size_t) (colon - s) : n;
        if (!dns_name_ok(s, host_len))
            return false;
    }
    if (host_len < n && (s[host_len] != ':' || !port_ok(s + host_len + 1, n - host_len - 1)))
        return false;
    copy_lower(s, host_len, ret);
    return true;
}

/* ---- protocol signatures ---- */

/* A TLS record header of a handshake record, as far as it is there. SSL 3.0 (0x0300) is not
 * accepted: RFC 7568 forbids it, and no client still sends it. */
static enum vps_peek_result tls_record_header(const uint8_t *s, size_t n, size_t *ret_len)
{
    static const uint8_t want[] = {TLS_CONTENT_HANDSHAKE, 0x03};

    if (memcmp(s, want, min_size(n, sizeof want)) != 0)
        return VPS_PEEK_NO;
    if (n > 2 && (s[2] < 0x01 || s[2] > 0x04))
        return VPS_PEEK_NO;
    if (n < TLS_RECORD_HEADER_BYTES)
        return VPS_PEEK_NEED_MORE;
    size_t len = (size_t) s[3] << 8 | s[4];
    if (len == 0 || len > TLS_RECORD_MAX_BYTES) /* RFC 8446, 5.1: no empty handshake records */
        return VPS_PEEK_NO;
    *ret_len = len;
    return VPS_PEEK_FOUND;
}

static enum vps_peek_result tls_signature(const uint8_t *s, size_t n)
{
    size_t rec_len;
    enum vps_peek_result r = tls_record_header(s, n, &rec_len);

    if (r != VPS_PEEK_FOUND)
        return r;
    if (n == TLS_RECORD_HEADER_BYTES)
        return VPS_PEEK_NEED_MORE;
    return s[TLS_RECORD_HEADER_BYTES] == TLS_HANDSHAKE_HELLO ? VPS_PEEK_FOUND : VPS_PEEK_NO;
}

static enum vps_peek_result http_signature(const uint8_t *s, size_t n)
{
    static const char *const methods[] = {"GET ",     "POST ",  "HEAD ",    "PUT ",  "DELETE ",
                                          "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "};
    enum vps_peek_result best = VPS_PEEK_NO;

    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        enum vps_peek_result r = starts_like(s, n, methods[i]);
        if (r == VPS_PEEK_FOUND)
            return r;
        if (r == VPS_PEEK_NEED_MORE)
            best = r;
    }
    return best;
}

enum vps_peek_result vps_peek_protocol(const void *buf, size_t len, const char **ret_protocol)
{
    const uint8_t *s = buf;
    enum vps_peek_result r;

    if (len == 0)
        return VPS_PEEK_NEED_MORE;
    /* The first bytes tell the three apart: 'S', 0x16, or a method's capital letter. */
    if ((r = starts_like(s, len, "SSH-")) != VPS_PEEK_NO) {
        if (r == VPS_PEEK_FOUND)
            *ret_protocol = "ssh";
        return r;
    }
    if ((r = tls_signature(s, len)) != VPS_PEEK_NO) {
        if (r == VPS_PEEK_FOUND)
            *ret_protocol = "tls";
        return r;
    }
    if ((r = http_signature(s, len)) == VPS_PEEK_FOUND)
        *ret_protocol = "http";
    return r;
}

/* ---- HTTP/1.x request head ---- */

struct span {
    const uint8_t *p;
    size_t n;
};

/* method SP request-target SP "HTTP/1." DIGIT (RFC 9112, 3), or as much of it as is there
 * when the line is not complete yet. The target goes to *target once seen. */
static bool request_line_ok(const uint8_t *s, size_t n, bool complete, struct span *target)
{
    static const char version[] = "HTTP/1.";
    size_t i = 0, start;

    while (i < n && is_tchar(s[i]))
        i++;
    if (i == n)
        return !complete;
    if (i == 0 || s[i] != ' ')
        return false;
    start = ++i;
    while (i < n && s[i] > ' ' && s[i] < 0x7f)
        i++;
    if (i == n)
        return !complete;
    if (i == start || s[i] != ' ')
        return false;
    *target = (struct span){s + start, i - start};
    i++;
    /* sizeof version: "HTTP/1." and one digit */
    if (n - i > sizeof version)
        return false;
    for (size_t k = 0; i + k < n; k++) {
        uint8_t c = s[i + k];
        if (k < sizeof version - 1 ? c != (uint8_t) version[k] : (c < '0' || c > '9'))
            return false;
    }
    return !complete || n - i == sizeof version;
}

/* field-name ":" field-value, or as much of it as is there. No whitespace before the line
 * (obs-fold, or a first line that would be one; RFC 9112, 5.2) or before the colon (5.1):
 * both are how requests get read differently by two parsers. The value of a complete line
 * goes to *value, and *is_host says whether the name is Host. */
static bool field_line_ok(const uint8_t *s, size_t n, bool complete, bool *is_host,
                          struct span *value)
{
    size_t i = 0;

    while (i < n && is_tchar(s[i]))
        i++;
    if (i == n)
        return !complete;
    if (i == 0 || s[i] != ':')
        return false;
    *is_host = i == 4 && strncasecmp((const char *) s, "host", 4) == 0;
    *value = (struct span){s + i + 1, n - i - 1};
    return true;
}

/* The length of the head up to and including its empty line, or 0 if it does not end within
 * s[0..n). false on a byte no head may hold: a control character other than HTAB, or a CR and
 * an LF that are not a pair (a bare LF is where parsers disagree). */
static bool find_head_end(const uint8_t *s, size_t n, size_t *ret_len)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '\r') {
            if (i + 1 < n && s[i + 1] != '\n')
                return false;
        } else if (c == '\n') {
            if (i == 0 || s[i - 1] != '\r')
                return false;
            if (i >= 3 && s[i - 2] == '\n') {
                *ret_len = i + 1;
                return true;
            }
        } else if ((c < ' ' && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    *ret_len = 0;
    return true;
}

static void trim_ows(struct span *v)
{
    while (v->n > 0 && (v->p[0] == ' ' || v->p[0] == '\t')) {
        v->p++;
        v->n--;
    }
    while (v->n > 0 && (v->p[v->n - 1] == ' ' || v->p[v->n - 1] == '\t'))
        v->n--;
}

/* Walks the lines of s[0..n), complete or not, checking each; the Host value goes to *host.
 * false on anything malformed, and on a second Host. */
static bool head_lines_ok(const uint8_t *s, size_t n, struct span *target, struct span *host,
                          bool *seen_host)
{
    size_t pos = 0;

    for (bool first = true; pos < n || first; first = false) {
        const uint8_t *cr = memchr(s + pos, '\r', n - pos);
        /* find_head_end checked that a CR is the last byte or followed by LF */
        bool complete = cr && (size_t) (cr - s) + 1 < n;
        size_t line_len = cr ? (size_t) (cr - s) - pos : n - pos;
        const uint8_t *line = s + pos;
        bool is_host = false;
        struct span value;

        if (first) {
            if (!request_line_ok(line, line_len, complete, target))
                return false;
        } else if (complete && line_len == 0) {
            return true; /* the empty line ending the head */
        } else {
            if (!field_line_ok(line, line_len, complete, &is_host, &value))
                return false;
            if (complete && is_host) {
                if (*seen_host)
                    return false;
                *seen_host = true;
                *host = value;
            }
        }
        if (!complete)
            return true;
        pos += line_len + 2;
    }
    return true;
}

/* The host of an absolute-form target ("http://a.example:8080/x"), into ret; false if the
 * target is in another form. */
static bool target_host(struct span t, bool *ret_absolute, char *ret)
{
    size_t skip;

    if (t.n >= 7 && strncasecmp((const char *) t.p, "http://", 7) == 0)
        skip = 7;
    else if (t.n >= 8 && strncasecmp((const char *) t.p, "https://", 8) == 0)
        skip = 8;
    else {
        *ret_absolute = false;
        return true;
    }
    *ret_absolute = true;
    size_t end = skip;
    while (end < t.n && t.p[end] != '/' && t.p[end] != '?' && t.p[end] != '#')
        end++;
    /* userinfo ("user@host") is forbidden in http(s) URIs (RFC 9110, 4.2.4) and is where
     * "which host is it" tricks hide; the host parser refuses '@'. */
    return parse_host_port(t.p + skip, end - skip, ret);
}

enum vps_peek_result vps_peek_http_host(const void *buf, size_t len, char *ret, size_t size)
{
    const uint8_t *s = buf;
    size_t n = min_size(len, VPS_PEEK_HTTP_MAX_BYTES), head_len;
    struct span target = {NULL, 0}, host = {NULL, 0};
    bool seen_host = false, absolute;
    char name[VPS_PEEK_HOST_SIZE], target_name[VPS_PEEK_HOST_SIZE];

    assert(size >= VPS_PEEK_HOST_SIZE);
    (void) size; /* only asserted on */
    if (!find_head_end(s, n, &head_len))
        return VPS_PEEK_NO;
    if (!head_lines_ok(s, head_len ? head_len : n, &target, &host, &seen_host))
        return VPS_PEEK_NO;
    if (head_len == 0) /* the whole head must fit in the first VPS_PEEK_HTTP_MAX_BYTES */
        return len >= VPS_PEEK_HTTP_MAX_BYTES ? VPS_PEEK_NO : VPS_PEEK_NEED_MORE;
    if (!seen_host)
        return VPS_PEEK_NO;
    trim_ows(&host);
    if (!parse_host_port(host.p, host.n, name))
        return VPS_PEEK_NO;
    /* RFC 9112, 3.2.2: a server uses the absolute-form target's host and ignores Host. The
     * service might do either, so route only when both name the same host. */
    if (!target_host(target, &absolute, target_name) ||
        (absolute && strcmp(name, target_name) != 0))
        return VPS_PEEK_NO;
    memcpy(ret, name, strlen(name) + 1);
    return VPS_PEEK_FOUND;
}

/* ---- TLS ClientHello ---- */

/* A read position in a bounded byte range; every read checks what is left. */
struct cursor {
    const uint8_t *p;
    size_t n;
};

static bool take(struct cursor *c, size_t k, struct cursor *ret)
{
    if (c->n < k)
        return false;
    if (ret)
        *ret = (struct cursor){c->p, k};
    c->p += k;
    c->n -= k;
    return true;
}

/* An unsigned big-endian integer of 1..3 bytes. */
static bool take_uint(struct cursor *c, size_t bytes, size_t *ret)
{
    struct cursor v;

    if (!take(c, bytes, &v))
        return false;
    *ret = 0;
    for (size_t i = 0; i < bytes; i++)
        *ret = *ret << 8 | v.p[i];
    return true;
}

/* A vector with a length prefix of len_bytes bytes (RFC 8446, 3.4). */
static bool take_vector(struct cursor *c, size_t len_bytes, struct cursor *ret)
{
    size_t n;

    return take_uint(c, len_bytes, &n) && take(c, n, ret);
}

/* ServerNameList (RFC 6066, 3): exactly fills the extension, and holds one host_name. Other
 * name types (none is defined) are skipped. */
static bool server_name_ext(struct cursor ext, char *ret)
{
    struct cursor list, name;
    bool found = false;

    if (!take_vector(&ext, 2, &list) || ext.n != 0 || list.n == 0)
        return false;
    while (list.n > 0) {
        size_t type;
        if (!take_uint(&list, 1, &type) || !take_vector(&list, 2, &name))
            return false;
        if (type != TLS_SERVER_NAME_HOSTNAME)
            continue;
        if (found || !dns_name_ok(name.p, name.n))
            return false;
        copy_lower(name.p, name.n, ret);
        found = true;
    }
    return found;
}

/* The ClientHello body (RFC 8446, 4.1.2; the same layout since TLS 1.0), which must be used
 * up exactly by its fields. */
static bool client_hello_sni(struct cursor c, char *ret)
{
    struct cursor v, exts, data;
    size_t version, type;
    bool found = false;

    if (!take_uint(&c, 2, &version) || version >> 8 != 3 || !take(&c, 32, NULL)) /* random */
        return false;
    if (!take_vector(&c, 1, &v) || v.n > 32) /* legacy_session_id */
        return false;
    if (!take_vector(&c, 2, &v) || v.n == 0 || v.n % 2 != 0) /* cipher_suites */
        return false;
    if (!take_vector(&c, 1, &v) || v.n == 0) /* legacy_compression_methods */
        return false;
    if (!take_vector(&c, 2, &exts) || c.n != 0) /* no extensions at all: no SNI either */
        return false;
    while (exts.n > 0) {
        if (!take_uint(&exts, 2, &type) || !take_vector(&exts, 2, &data))
            return false;
        if (type != TLS_EXT_SERVER_NAME)
            continue;
        /* Two server_name extensions: which one the service believes is anyone's guess. */
        if (found || !server_name_ext(data, ret))
            return false;
        found = true;
    }
    return found;
}

enum vps_peek_result vps_peek_tls_sni(const void *buf, size_t len, char *ret, size_t size)
{
    const uint8_t *s = buf;
    size_t n = min_size(len, VPS_PEEK_TLS_MAX_BYTES), pos = 0, rec_left = 0, have = 0;
    /* The handshake message, reassembled from the records that carry it (RFC 8446, 5.1
     * allows a message to span records). */
    uint8_t hello[VPS_PEEK_TLS_HELLO_MAX_BYTES];
    char name[VPS_PEEK_HOST_SIZE];
    enum vps_peek_result more = len >= VPS_PEEK_TLS_MAX_BYTES ? VPS_PEEK_NO : VPS_PEEK_NEED_MORE;

    assert(size >= VPS_PEEK_HOST_SIZE);
    (void) size; /* only asserted on */
    for (;;) {
        if (have >= 1 && hello[0] != TLS_HANDSHAKE_HELLO)
            return VPS_PEEK_NO;
        if (have >= 4) {
            size_t need = 4 + ((size_t) hello[1] << 16 | (size_t) hello[2] << 8 | hello[3]);
            if (need > sizeof hello)
                return VPS_PEEK_NO;
            if (have >= need) {
                if (!client_hello_sni((struct cursor){hello + 4, need - 4}, name))
                    return VPS_PEEK_NO;
                memcpy(ret, name, strlen(name) + 1);
                return VPS_PEEK_FOUND;
            }
        }
        if (rec_left == 0) {
            enum vps_peek_result r = tls_record_header(s + pos, n - pos, &rec_left);
            if (r != VPS_PEEK_FOUND)
                return r == VPS_PEEK_NO ? r : more;
            pos += TLS_RECORD_HEADER_BYTES;
        }
        /* have < need <= sizeof hello here, so k > 0 whenever input is left */
        size_t k = min_size(min_size(rec_left, n - pos), sizeof hello - have);
        if (k == 0)
            return more;
        memcpy(hello + have, s + pos, k);
        have += k;
        pos += k;
        rec_left -= k;
    }
}

bool vps_peek_match_host(const char *pattern, const char *host)
{
    const char *dot;

    if (strncmp(pattern, "*.", 2) != 0)
        return strcmp(pattern, host) == 0;
    if (pattern[2] == '\0' || !(dot = strchr(host, '.')) || dot == host)
        return false;
    return strcmp(dot + 1, pattern + 2) == 0;
}
