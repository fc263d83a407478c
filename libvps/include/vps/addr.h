/* Socket addresses as the config writes them: "ip:port", with IPv6 in brackets
 * ("[2001:db8::1]:22"). One parser and one formatter for the config's validation, the
 * activator's listening sockets and the front routers, so that "tcp:198.18.0.2:22",
 * "198.18.0.2:022" and "[::ffff:...]"-free spellings all name one socket. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Longest canonical "[ipv6]:port", NUL included. */
#define VPS_ADDR_TEXT_MAX 56

/* Parses "ip:port" / "[ipv6]:port" (port 1..65535, decimal, no sign) into ss. False for
 * anything else, ss then undefined. */
bool vps_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len);

/* The canonical text of an AF_INET or AF_INET6 address: inet_ntop()'s form, IPv6 in
 * brackets, the port in decimal. size >= VPS_ADDR_TEXT_MAX. "?" for other families. */
void vps_addr_format(const struct sockaddr_storage *ss, char *buf, size_t size);
