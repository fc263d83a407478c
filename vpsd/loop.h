/* The daemon's one epoll loop: fd watches with callbacks, and deadlines. Every other part
 * of vpsd registers here; nothing blocks. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vps/error.h"

struct loop;
struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events, void *userdata);
typedef void (*tick_fn)(void *userdata);

int loop_new(struct loop **ret, struct vps_error *err);
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN, ...). The watch is freed by watch_remove() or loop_free();
 * the fd stays the caller's. */
int loop_watch(struct loop *l, int fd, uint32_t events, watch_fn fn, void *userdata,
               struct watch **ret, struct vps_error *err);
void watch_remove(struct watch *w);

/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);

/* Called once per iteration, before waiting: returns the ms until it wants to run next
 * (UINT64_MAX: no wish). Used for MHD's timeout and for operation wait deadlines. */
typedef uint64_t (*prepare_fn)(void *userdata);
int loop_add_prepare(struct loop *l, prepare_fn fn, tick_fn after, void *userdata,
                     struct vps_error *err);

/* Runs until loop_quit(). */
int loop_run(struct loop *l, struct vps_error *err);
void loop_quit(struct loop *l);
