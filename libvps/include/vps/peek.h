/* Peeking at the first bytes of a connection on a shared front address, to route it by
 * protocol signature, HTTP Host header or TLS SNI (DESIGN.md, "On-demand activation"). Pure
 * functions over a byte buffer: the caller reads with MSG_PEEK, so the service later reads
 * the request untouched, and calls again with more bytes while the answer is NEED_MORE.
 *
 * Routing is per connection: only the first request (or ClientHello) is looked at. A later
 * request on a kept-alive HTTP connection goes where the first one went, whatever its Host.
 * buf is never NULL; a ret of less than VPS_PEEK_HOST_SIZE bytes is a programmer error
 * (asserted). None of them allocates, logs or has state: safe anywhere, the spawned child
 * included. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum vps_peek_result {
    VPS_PEEK_NO,        /* not this protocol, malformed, or too long: do not route on it */
    VPS_PEEK_NEED_MORE, /* a valid prefix so far: peek more bytes (up to the cap) and ask again */
    VPS_PEEK_FOUND,     /* the answer is in the output */
};

/* Size of a buffer that holds any host name the peek functions return, NUL included: a DNS
 * name of at most 253 characters, or a bracketed IPv6 literal (at most 47). */
#define VPS_PEEK_HOST_SIZE 254

/* An HTTP request head (request line and header fields, up to and including the empty line)
 * longer than this is refused: peek at most this many bytes. */
#define VPS_PEEK_HTTP_MAX_BYTES 8192
/* A ClientHello handshake message (its 4-byte header included) longer than this is refused. */
#define VPS_PEEK_TLS_HELLO_MAX_BYTES 16384
/* The TLS records that carry the ClientHello must end within this many bytes: peek at most
 * this many. Room for a maximal hello in two records, or a smaller one in many. */
#define VPS_PEEK_TLS_MAX_BYTES (VPS_PEEK_TLS_HELLO_MAX_BYTES + 1024)

/* The protocol a client speaks, from its first bytes: "ssh" (starts with "SSH-"), "tls" (a
 * handshake record header as vps_peek_tls_sni() accepts it, then the ClientHello type byte;
 * neither SSL 3.0 nor SSLv2-style hellos) or "http" (an HTTP/1.x method of GET, POST, HEAD,
 * PUT, DELETE, OPTIONS, PATCH, CONNECT or TRACE, then a space). At most 8 bytes are needed.
 * *ret_protocol is a static string, set only on FOUND.
 *
 * With SSH the server speaks first (RFC 4253, 4.2): a client may send its banner at once, but
 * it may also wait silently for the server's. Such a client gives no bytes at all, so the
 * caller must not wait forever for them: after a short timeout with nothing to peek it picks
 * its default route (typically the "ssh" rule). */
enum vps_peek_result vps_peek_protocol(const void *buf, size_t len, const char **ret_protocol);

/* The Host of an HTTP/1.x request: the request head is parsed strictly (CRLF line ends only,
 * no control characters, no obs-fold, no header line without ':', no space before ':', at
 * most VPS_PEEK_HTTP_MAX_BYTES bytes) and must have exactly one Host field, since a router and
 * a service that picked different ones of two would disagree about where a request belongs.
 * The value has its surrounding whitespace and any ":port" removed and is lower-cased; it is
 * a DNS name (letters, digits, hyphens in a label, dots between non-empty labels of at most
 * 63 characters, at most 253 in all) or an IPv6 literal kept in its brackets. With an
 * absolute-form request target ("GET http://a.example/ HTTP/1.1") the target's host must be
 * the same as the Host field's. size must be at least VPS_PEEK_HOST_SIZE; ret is written
 * only on FOUND. NEED_MORE until the empty line ending the head has been seen; early bytes
 * that can never become a valid head give NO at once. */
enum vps_peek_result vps_peek_http_host(const void *buf, size_t len, char *ret, size_t size);

/* The server_name (SNI, RFC 6066) of a TLS ClientHello, validated and lower-cased as a DNS
 * name like a Host above (SNI has no IPv6 literals). Records of type handshake with version
 * 0x0301..0x0304 and 1..16640 bytes are reassembled when the hello spans several of them, up
 * to VPS_PEEK_TLS_HELLO_MAX_BYTES of hello within VPS_PEEK_TLS_MAX_BYTES of input. Every
 * length in the hello is checked against its container, a duplicate extension server_name or
 * two host names in it give NO, and a hello without one gives NO. size must be at least
 * VPS_PEEK_HOST_SIZE; ret is written only on FOUND. NEED_MORE until the whole hello is
 * there. */
enum vps_peek_result vps_peek_tls_sni(const void *buf, size_t len, char *ret, size_t size);

/* Whether a match rule's host pattern selects host. Both are lower-case (config validation
 * and the peek functions see to it). A pattern "*.example.com" matches exactly one more label,
 * as in TLS certificates (RFC 6125, 6.4.3): "a.example.com" but neither "example.com" nor
 * "a.b.example.com". Any other pattern matches only the very same name. */
bool vps_peek_match_host(const char *pattern, const char *host);
