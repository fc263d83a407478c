/* /v1/vps/{name}/services: on-demand services of a VPS. Placeholder until the API lands. */
#include "api.h"

static int not_yet(struct vps_error *err)
{
    return vps_error_set(err, VPS_ERR_CONFLICT, "the services API is not there yet");
}

int api_service_list(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_add(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_get(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_patch(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_delete(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_start(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}

int api_service_stop(struct request *r, struct vps_error *err)
{
    (void) r;
    return not_yet(err);
}
