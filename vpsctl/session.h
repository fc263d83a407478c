/* A "vps-exec" session on a connection that vpsd has switched to it (vps_client_upgrade()):
 * the command runs with this process's own stdin, stdout and stderr, or on a pty made inside
 * the VPS that is relayed to this terminal, and its exit status arrives as one JSON line.
 *
 * The protocol after "101 Switching Protocols" (the request body asked for "tty": true or
 * false, with "rows" and "cols" for a tty):
 *   - no tty: the client sends one byte 'F' with SCM_RIGHTS carrying exactly its fds 0, 1
 *     and 2; vpsd runs the command on them and the client only waits;
 *   - tty: vpsd sends one byte 'P' with SCM_RIGHTS carrying the pty's master; the client
 *     relays its stdin and stdout to it and sets its size (TIOCSWINSZ) itself;
 *   - at the end vpsd writes one line, {"exit_code": N}, {"signal": N} or
 *     {"error": {"code", "message"}}, and closes. Either side closing earlier ends the
 *     session: vpsd kills the command, the client reports "connection to vpsd lost". */
#pragma once

#include "vps/error.h"

/* The protocol named in "Upgrade:". */
#define SESSION_PROTOCOL "vps-exec"

/* Without a tty: hands fds 0, 1 and 2 to vpsd ('F' with SCM_RIGHTS), then waits for the
 * command's end. The command owns the fds meanwhile; nothing is copied here. */
int session_run_plain(int sock, int *ret_status, struct vps_error *err);

/* With a tty: receives the pty's master ('P' with SCM_RIGHTS), puts stdin in raw mode if it
 * is a terminal, and relays stdin to the master and the master to stdout until the command
 * ends, following this terminal's size (SIGWINCH). The terminal and the signal mask are
 * restored on every return. SIGINT, SIGTERM, SIGHUP or SIGQUIT end the session with
 * 128 + the signal's number. */
int session_run_tty(int sock, int *ret_status, struct vps_error *err);

/* Both return 0 with *ret_status set the way a shell sets $?: the command's exit code, or
 * 128 + N when signal N ended it. Otherwise -1 with err filled: the daemon's error if it
 * ended the session with one (its code decides vpsctl's exit status), or VPS_ERR_SYSTEM
 * "connection to vpsd lost" when the socket closed without a last line. */
