/* Cleanup vocabulary shared by every file: scoped ownership of memory, fds and
 * jansson values, and the TAKE_* macros that move ownership out of a scope. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define cleanup_(f)   __attribute__((cleanup(f)))
#define cleanup_free  cleanup_(vps_freep)
#define cleanup_close cleanup_(vps_closep)
#define cleanup_json  cleanup_(vps_json_decrefp)

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        typeof(p) _p = (p);                                                                        \
        (p) = NULL;                                                                                \
        _p;                                                                                        \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _fd = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _fd;                                                                                       \
    })

#define ELEMENTSOF(a)  (sizeof(a) / sizeof((a)[0]))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_       __attribute__((unused))

static inline void vps_freep(void *p)
{
    free(*(void **) p);
}

/* close() keeps errno as it was, so a cleanup never clobbers the errno an error path reads. */
static inline void vps_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void) close(*fd);
        errno = saved;
    }
}

static inline int vps_close(int fd)
{
    if (fd >= 0)
        vps_closep(&fd);
    return -1;
}

struct json_t;
void vps_json_decrefp(struct json_t **j);
