/* Long operations (template import now; backups, migrations later): each runs in a forked
 * worker that reports progress over a socketpair, while the API answers 202 at once and
 * /v1/operations/{id} shows the state. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "daemon.h"
#include "vps/error.h"

struct op;

/* Runs in the worker (a fork of vpsd): may call op_progress(); returns < 0 with err. */
typedef int (*op_work_fn)(struct vpsd *d, void *arg, struct vps_error *err);
/* Runs in vpsd when the worker has ended (err->code 0 on success). */
typedef void (*op_done_fn)(struct vpsd *d, const char *target, const struct vps_error *err);

int ops_new(struct vpsd *d, struct ops **ret, struct vps_error *err);
/* Kills and reaps running workers, frees every operation. */
void ops_free(struct ops *o);

/* Starts an operation. arg stays the caller's and must outlive the fork only (the worker
 * has its own copy of memory). */
int ops_start(struct ops *o, const char *kind, const char *target, op_work_fn work, void *arg,
              op_done_fn done, struct op **ret, struct vps_error *err);

/* In the worker: reports progress, 0..100. */
void op_progress(unsigned percent, const char *what);

struct op *ops_find(struct ops *o, const char *id);
/* True while an operation of kind on target runs. */
bool ops_busy(struct ops *o, const char *kind, const char *target);
size_t ops_running(struct ops *o);
bool op_is_running(const struct op *op);
const char *op_id(const struct op *op);
json_t *op_to_json(const struct op *op);
json_t *ops_to_json(struct ops *o);
