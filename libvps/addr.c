/* "ip:port" text to socket addresses and back (vps/addr.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vps/addr.h"

bool vps_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *ret_len)
{
    char host[INET6_ADDRSTRLEN];
    const char *port_text, *end_host;
    bool v6 = s[0] == '[';
    unsigned long port;
    char *end;

    if (v6) {
        end_host = strchr(s, ']');
        if (!end_host || end_host[1] != ':')
            return false;
        port_text = end_host + 2;
        s++;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return false;
        end_host = colon;
        port_text = colon + 1;
    }
    if (end_host <= s || (size_t) (end_host - s) >= sizeof host)
        return false;
    memcpy(host, s, (size_t) (end_host - s));
    host[end_host - s] = '\0';
    if (!isdigit((unsigned char) port_text[0]) || strlen(port_text) > 5)
        return false;
    errno = 0;
    port = strtoul(port_text, &end, 10);
    if (*end || errno || port == 0 || port > 65535)
        return false;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t) port);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return false;
        *ret_len = sizeof *sin6;
        return true;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return false;
    *ret_len = sizeof *sin;
    return true;
}

void vps_addr_format(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
        (void) inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        (void) snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
        (void) inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        (void) snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
    } else {
        (void) snprintf(buf, size, "?");
    }
}
