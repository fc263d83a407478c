/* Proxy mode's byte relay (DESIGN.md, "On-demand activation"): two connected stream sockets
 * joined both ways with splice() through a pipe per direction, so the bytes never pass
 * through user space. Non-blocking and event-driven, for vpsd's loop: the caller watches both
 * sockets edge-triggered (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) and calls
 * vps_relay_run() whenever either reports anything; run moves all that can move until every
 * path would block. Half-close is carried through: the end of one direction (a read of 0) is
 * passed on with shutdown(SHUT_WR) once its pipe is drained, and the other direction keeps
 * flowing until it ends too. */
#pragma once

#include <stdint.h>

#include "error.h"

struct vps_relay;

struct vps_relay_stats {
    uint64_t a_to_b; /* bytes read from a and written to b */
    uint64_t b_to_a;
};

/* Joins a and b (connected stream sockets; made non-blocking here). On success the relay owns
 * both fds (closed by vps_relay_free()); on failure the caller keeps them. */
int vps_relay_new(int a, int b, struct vps_relay **ret, struct vps_error *err);
/* 1: still open, wait for events; 0: both directions have ended — free it; -1: a socket
 * failed (reset by its peer, ...), err says which — free it (the other side is reset too). */
int vps_relay_run(struct vps_relay *r, struct vps_error *err);
void vps_relay_get_stats(const struct vps_relay *r, struct vps_relay_stats *ret);
int vps_relay_fd_a(const struct vps_relay *r);
int vps_relay_fd_b(const struct vps_relay *r);
/* Closes both sockets and the pipes. NULL is fine. */
void vps_relay_free(struct vps_relay *r);
