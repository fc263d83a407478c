/* Socket addresses as the config writes them: "ip:port", with IPv6 in brackets
 * ("[2001:db8::1]:22"). One parser and one formatter for the config's validation, the
 * activator's listening sockets and the front routers, so that spellings such as
 * "198.18.0.2:022" and "198.18.0.2:22" name one socket. A "tcp:"/"udp:" prefix is the
 * config's (config.c strips it); the parser refuses it. IPv4-mapped IPv6 ("[::ffff:a.b.c.d]")
 * is kept as IPv6, not folded into "a.b.c.d". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Longest canonical "[ipv6]:port", NUL included. */
#define VPS_ADDR_TEXT_MAX 56

/* Parses "ip:port" / "[ipv6]:port" (port 1..65535, decimal, no sign, at most 5 digits so
 * "00022" is 22 but "000022" is refused) into ss. False for anything else, ss and *ret_len
 * then undefined. */
bool vps_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len);

/* The canonical text of an AF_INET or AF_INET6 address: inet_ntop()'s form, IPv6 in
 * brackets, the port in decimal. size >= VPS_ADDR_TEXT_MAX. "?" for other families. */
void vps_addr_format(const struct sockaddr_storage *ss, char *buf, size_t size);
