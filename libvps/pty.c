/* Pty pairs inside a VPS's devpts. Making a pty a process's controlling terminal is
 * spawn.c's (setsid + TIOCSCTTY in the child). */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "vps/path.h"
#include "vps/pty.h"

int vps_pty_open_in(int root_fd, unsigned rows, unsigned cols, int *ret_master, int *ret_peer,
                    struct vps_error *err)
{
    cleanup_close int master =
        vps_path_open_in_root(root_fd, "dev/pts/ptmx", O_RDWR | O_NOCTTY, err);
    int unlock = 0, peer;

    if (master < 0)
        return -1;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return vps_error_errno(err, errno, "unlock pty");
    if (rows && cols) {
        struct winsize ws = {.ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols};
        (void) ioctl(master, TIOCSWINSZ, &ws);
    }
    peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0)
        return vps_error_errno(err, errno, "open pty peer");
    *ret_master = TAKE_FD(master);
    *ret_peer = peer;
    return 0;
}
