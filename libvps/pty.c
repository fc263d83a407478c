/* Pty pairs inside a VPS's devpts. Making a pty a process's controlling terminal is
 * spawn.c's (setsid + TIOCSCTTY in the child). */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "syscalls.h"
#include "vps/pty.h"

int vps_pty_open_in(int root_fd, unsigned rows, unsigned cols, int *ret_master, int *ret_peer,
                    struct vps_error *err)
{
    struct open_how how = {.flags = O_RDWR | O_NOCTTY | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS};
    cleanup_close int master = vps_sys_openat2(root_fd, "dev/pts/ptmx", &how, sizeof how);
    int unlock = 0, peer;

    if (master < 0)
        return vps_error_errno(err, errno, "open /dev/pts/ptmx");
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
