/* Request handlers of API v1, one file per resource (api-vps.c, api-template.c, api-host.c).
 * The route table that maps paths to them is server.c's. */
#pragma once

#include "server.h"

int api_vps_list(struct request *r, struct vps_error *err);
int api_vps_create(struct request *r, struct vps_error *err);
int api_vps_get(struct request *r, struct vps_error *err);
int api_vps_patch(struct request *r, struct vps_error *err);
int api_vps_delete(struct request *r, struct vps_error *err);

int api_vps_start(struct request *r, struct vps_error *err);
int api_vps_stop(struct request *r, struct vps_error *err);
int api_vps_restart(struct request *r, struct vps_error *err);
int api_vps_kill(struct request *r, struct vps_error *err);
int api_vps_stats(struct request *r, struct vps_error *err);
int api_vps_exec(struct request *r, struct vps_error *err);
/* Ends every streamed exec session (their commands are killed); before the server stops. */
void api_exec_shutdown(void);
/* Loads the VPS named by the path, answering 403 rather than 404 to callers who may not see
 * it (api-vps.c). */
int api_load_vps(struct request *r, struct vps_config **ret, struct vps_error *err);
/* True if the caller is listed in the owners of at least one VPS (api-vps.c). */
bool api_caller_owns_any(struct request *r);
/* Saves n, the new config of the VPS whose config was old, and applies it live: limits,
 * addresses, on-demand services and front rules; publishes vps_changed. A content rule that
 * another VPS holds is VPS_ERR_CONFLICT, before anything is saved (api-vps.c). */
int api_vps_commit(struct request *r, const struct vps_config *old, const struct vps_config *n,
                   struct vps_error *err);
/* {"config": ..., "status": ...} of a VPS (api-vps.c). */
json_t *api_vps_json(struct request *r, const struct vps_config *c, struct vps_error *err);

/* /v1/vps/{name}/services[/{service}[/start|/stop|/log]] (api-service.c). */
int api_service_list(struct request *r, struct vps_error *err);
int api_service_add(struct request *r, struct vps_error *err);
int api_service_get(struct request *r, struct vps_error *err);
int api_service_patch(struct request *r, struct vps_error *err);
int api_service_delete(struct request *r, struct vps_error *err);
int api_service_start(struct request *r, struct vps_error *err);
int api_service_stop(struct request *r, struct vps_error *err);
int api_service_log(struct request *r, struct vps_error *err);

int api_template_list(struct request *r, struct vps_error *err);
int api_template_get(struct request *r, struct vps_error *err);
int api_template_precheck(struct request *r, struct vps_error *err);
int api_template_import(struct request *r, struct vps_error *err);
/* POST /v1/templates/{name}/build: a Debian template made by debootstrap, as an operation. */
int api_template_build(struct request *r, struct vps_error *err);
int api_template_export(struct request *r, struct vps_error *err);
int api_template_delete(struct request *r, struct vps_error *err);

int api_host_get(struct request *r, struct vps_error *err);
int api_events_get(struct request *r, struct vps_error *err);
int api_operation_list(struct request *r, struct vps_error *err);
int api_operation_get(struct request *r, struct vps_error *err);
