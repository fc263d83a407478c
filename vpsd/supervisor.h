/* The supervisor: running VPSes. Starts a VPS's init (spawn.c) in its cgroup, watches the
 * init's pidfd, stops gracefully (signal, then kill the cgroup after a timeout), records
 * each running VPS under <run-dir>/<name>/state.json and re-adopts them when vpsd starts
 * again, so VPSes outlive the daemon. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "vps/config.h"
#include "vps/error.h"

#define SUPERVISOR_STOP_TIMEOUT_MS 30000

int supervisor_new(struct vpsd *d, struct supervisor **ret, struct vps_error *err);
/* Forgets the running VPSes without stopping them (they keep running while vpsd is down). */
void supervisor_free(struct supervisor *s);

/* Starts c. The first start makes the VPS's user and network namespaces and pins them under
 * <run-dir>/<name>/ns/ (user, net) together with its network; later starts reuse them, so
 * the network persists across stop and start (and vpsd restarts). VPS_ERR_CONFLICT if it
 * runs. On failure no cgroup or process is left; a first start leaves no pin or network
 * either, a later one leaves them as the stop did. */
int supervisor_start(struct supervisor *s, const struct vps_config *c, struct vps_error *err);
/* Asks a running VPS to stop: SIGTERM to its init, then, after timeout_ms, SIGKILL to every
 * process in its cgroup. kill: at once. The end shows as "stopped" (server_wake_waiters()).
 * The pinned namespaces and the network in them stay (see supervisor_forget()). */
int supervisor_stop(struct supervisor *s, const char *name, uint64_t timeout_ms, bool kill,
                    struct vps_error *err);

enum vps_run_state { VPS_RUN_STOPPED, VPS_RUN_RUNNING, VPS_RUN_STOPPING };
enum vps_run_state supervisor_state(struct supervisor *s, const char *name);
/* {"state", and when running "pid", "started_at"} */
json_t *supervisor_status_json(struct supervisor *s, const char *name);

/* Applies c's limits to a running VPS (no-op when stopped). */
int supervisor_apply_limits(struct supervisor *s, const struct vps_config *c,
                            struct vps_error *err);
/* cpu, memory, pids, uptime of a running VPS. VPS_ERR_CONFLICT when stopped. */
int supervisor_stats(struct supervisor *s, const char *name, json_t **ret, struct vps_error *err);

struct vps_spawn_exec;
/* Runs a command in a running VPS (fills the pidfd, cgroup and namespace parts of o). */
int supervisor_exec(struct supervisor *s, const char *name, struct vps_spawn_exec *o,
                    pid_t *ret_pid, int *ret_pidfd, struct vps_error *err);

/* Opens the root directory of a running VPS (its init's /proc/<pid>/root), checked against
 * the init's pidfd so that a reused pid cannot hand out another process's root. Paths under
 * it are the VPS's: resolve them with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS. */
int supervisor_open_root(struct supervisor *s, const char *name, int *ret_fd,
                         struct vps_error *err);

/* Opens the network namespace of a running VPS (its init's /proc/<pid>/ns/net), checked
 * against the init's pidfd like supervisor_open_root(). VPS_ERR_CONFLICT when not running. */
int supervisor_open_netns(struct supervisor *s, const char *name, int *ret_fd,
                          struct vps_error *err);

/* Opens the network namespace pinned for a VPS (running or not). VPS_ERR_NOT_FOUND if it has
 * none (never started since it was created). */
int supervisor_open_pinned_netns(struct supervisor *s, const char *name, int *ret_fd,
                                 struct vps_error *err);

/* At destroy of a stopped VPS: takes its network down (network_vps_down()), unpins its
 * namespaces and removes what <run-dir> holds of it. Failures are logged. */
void supervisor_forget(struct supervisor *s, const char *name);

/* Starts every VPS marked autostart that is not running. Failures are logged. */
void supervisor_autostart(struct supervisor *s);
