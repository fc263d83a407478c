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
 * both fds (closed by vps_relay_free()); on failure the caller keeps them, flags unchanged.
 * Errors: VPS_ERR_INVALID if a or b is not an open stream socket or a == b; VPS_ERR_SYSTEM
 * when the pipes cannot be made (EMFILE, ...). The relay is for one thread: vpsd's loop. */
int vps_relay_new(int a, int b, struct vps_relay **ret, struct vps_error *err);
/* Rounds (each a pipe's worth per direction at most) one vps_relay_run() moves before it
 * returns 2: a bound on how long one stream holds a single-threaded loop. */
#define VPS_RELAY_ROUNDS_PER_RUN 16

/* 1: still open, wait for events; 2: the budget ran out while bytes were still moving —
 * call again soon without waiting for an event (no edge will come for what is already
 * queued); 0: both directions have ended — free it; -1: a socket
 * failed (reset by its peer, ...), err says which ("relay: read from socket b: ...",
 * VPS_ERR_SYSTEM with the errno) — free it (the other side is reset too). Calling it again
 * after -1 gives -1 (VPS_ERR_CONFLICT). A write to a peer that has gone away raises SIGPIPE
 * (splice() has no MSG_NOSIGNAL): the process must ignore SIGPIPE, as vpsd does. */
int vps_relay_run(struct vps_relay *r, struct vps_error *err);
/* Bytes written to each destination so far (what a peer actually got, not what is still in
 * a pipe). */
void vps_relay_get_stats(const struct vps_relay *r, struct vps_relay_stats *ret);
int vps_relay_fd_a(const struct vps_relay *r);
int vps_relay_fd_b(const struct vps_relay *r);
/* Closes both sockets and the pipes. NULL is fine. Unless run() returned 0, both sockets are
 * closed with a reset (SO_LINGER 0), so that neither peer takes a cut-off stream for a whole
 * one. */
void vps_relay_free(struct vps_relay *r);
