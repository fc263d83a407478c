/* Terminals inside a VPS: a pty pair of the VPS's own devpts instance, for interactive
 * sessions (vpsctl enter, exec -t). */
#pragma once

#include "error.h"

/* Opens dev/pts/ptmx under root_fd (a VPS's root: resolved with RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS, so nothing the VPS planted is followed), unlocks it, sets the window
 * size when rows and cols are non-zero, and opens its peer with TIOCGPTPEER (Linux 4.13), so
 * no path is looked up for the peer either. Both fds are close-on-exec. */
int vps_pty_open_in(int root_fd, unsigned rows, unsigned cols, int *ret_master, int *ret_peer,
                    struct vps_error *err);
