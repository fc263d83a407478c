/* epoll loop with fd watches and per-iteration prepare/after hooks. Timers beyond what the
 * hooks express are not needed yet. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include "loop.h"

#define MAX_HOOKS 8

struct watch {
    struct loop *loop;
    int fd;
    watch_fn fn;
    void *userdata;
    bool dead;
    struct watch *next_dead;
};

struct loop {
    int epfd;
    bool quit;
    struct {
        prepare_fn prepare;
        tick_fn after;
        void *userdata;
    } hooks[MAX_HOOKS];
    size_t n_hooks;
    /* A callback may remove a watch whose event is still pending in this iteration's batch;
     * removed watches are only marked and are freed after the batch. */
    struct watch *dead;
};

static void free_dead(struct loop *l)
{
    while (l->dead) {
        struct watch *w = l->dead;
        l->dead = w->next_dead;
        free(w);
    }
}

int loop_new(struct loop **ret, struct vps_error *err)
{
    struct loop *l = calloc(1, sizeof *l);

    if (!l)
        return vps_error_errno(err, ENOMEM, "allocate loop");
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return vps_error_errno(err, errno, "epoll_create1");
    }
    *ret = l;
    return 0;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    free_dead(l);
    vps_close(l->epfd);
    free(l);
}

int loop_watch(struct loop *l, int fd, uint32_t events, watch_fn fn, void *userdata,
               struct watch **ret, struct vps_error *err)
{
    struct watch *w = calloc(1, sizeof *w);

    if (!w)
        return vps_error_errno(err, ENOMEM, "allocate watch");
    *w = (struct watch){.loop = l, .fd = fd, .fn = fn, .userdata = userdata};
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(w);
        return vps_error_errno(err, errno, "epoll_ctl add fd %d", fd);
    }
    if (ret)
        *ret = w;
    return 0;
}

void watch_remove(struct watch *w)
{
    if (!w)
        return;
    (void) epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->dead = true;
    w->next_dead = w->loop->dead;
    w->loop->dead = w;
}

uint64_t loop_now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int loop_add_prepare(struct loop *l, prepare_fn fn, tick_fn after, void *userdata,
                     struct vps_error *err)
{
    if (l->n_hooks == MAX_HOOKS)
        return vps_error_set(err, VPS_ERR_SYSTEM, "too many loop hooks");
    l->hooks[l->n_hooks].prepare = fn;
    l->hooks[l->n_hooks].after = after;
    l->hooks[l->n_hooks].userdata = userdata;
    l->n_hooks++;
    return 0;
}

static int iterate(struct loop *l, struct vps_error *err)
{
    struct epoll_event evs[64];
    uint64_t wait_ms = UINT64_MAX;

    for (size_t i = 0; i < l->n_hooks; i++)
        if (l->hooks[i].prepare) {
            uint64_t t = l->hooks[i].prepare(l->hooks[i].userdata);
            if (t < wait_ms)
                wait_ms = t;
        }
    int timeout = wait_ms == UINT64_MAX ? -1 : wait_ms > 60000 ? 60000 : (int) wait_ms;
    int n = epoll_wait(l->epfd, evs, (int) ELEMENTSOF(evs), timeout);
    if (n < 0 && errno != EINTR)
        return vps_error_errno(err, errno, "epoll_wait");
    for (int i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        if (!w->dead)
            w->fn(w, evs[i].events, w->userdata);
    }
    free_dead(l);
    for (size_t i = 0; i < l->n_hooks; i++)
        if (l->hooks[i].after)
            l->hooks[i].after(l->hooks[i].userdata);
    return 0;
}

int loop_run(struct loop *l, struct vps_error *err)
{
    while (!l->quit)
        if (iterate(l, err) < 0)
            return -1;
    return 0;
}

void loop_quit(struct loop *l)
{
    l->quit = true;
}
