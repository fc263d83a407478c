/* The event bus and its /v1/events streams (chunked JSON lines). A stream with nothing to
 * send suspends its connection; publishing resumes them all. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "log.h"

struct event {
    uint64_t seq;
    char *line; /* JSON + '\n' */
    size_t len;
    uint32_t *owners;
    size_t n_owners;
};

struct subscriber {
    struct events *bus;
    struct MHD_Connection *conn;
    struct caller caller;
    uint64_t next_seq; /* the next event to send */
    size_t offset;     /* into that event's line, when the buffer was too small */
    bool suspended;
    struct subscriber *prev, *next;
};

struct events {
    struct event ring[EVENTS_KEPT];
    uint64_t next_seq; /* starts at 1 */
    struct subscriber *subs;
    bool closing;
};

int events_new(struct events **ret, struct vps_error *err)
{
    struct events *e = calloc(1, sizeof *e);

    if (!e)
        return vps_error_errno(err, ENOMEM, "allocate event bus");
    e->next_seq = 1;
    *ret = e;
    return 0;
}

static void wake_all(struct events *e)
{
    for (struct subscriber *s = e->subs; s; s = s->next)
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
}

void events_free(struct events *e)
{
    if (!e)
        return;
    e->closing = true;
    wake_all(e);
    /* Subscribers are freed by MHD when their responses go; detach them from us. */
    for (struct subscriber *s = e->subs; s; s = s->next)
        s->bus = NULL;
    for (size_t i = 0; i < EVENTS_KEPT; i++) {
        free(e->ring[i].line);
        free(e->ring[i].owners);
    }
    free(e);
}

void events_timestamp(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;

    (void) gmtime_r(&now, &tm);
    (void) strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void events_publish(struct events *e, const char *type, const char *vps, json_t *fields,
                    const uint32_t *owners, size_t n_owners, const char *log_text)
{
    char ts[32];
    struct event *ev = &e->ring[e->next_seq % EVENTS_KEPT];
    char *text;

    if (log_text)
        log_notice("%s", log_text);
    if (!fields)
        fields = json_object();
    events_timestamp(ts, sizeof ts);
    (void) json_object_set_new(fields, "seq", json_integer((json_int_t) e->next_seq));
    (void) json_object_set_new(fields, "time", json_string(ts));
    (void) json_object_set_new(fields, "type", json_string(type));
    if (vps)
        (void) json_object_set_new(fields, "vps", json_string(vps));
    text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(fields);
    if (!text) {
        log_warning("event '%s': out of memory, dropping it", type);
        return;
    }
    free(ev->line);
    free(ev->owners);
    ev->len = strlen(text);
    text[ev->len++] = '\n';
    ev->line = text;
    ev->seq = e->next_seq++;
    ev->owners = NULL;
    ev->n_owners = 0;
    if (n_owners && (ev->owners = calloc(n_owners, sizeof *owners))) {
        memcpy(ev->owners, owners, n_owners * sizeof *owners);
        ev->n_owners = n_owners;
    }
    wake_all(e);
}

static bool may_see(const struct subscriber *s, const struct event *ev)
{
    if (s->caller.admin)
        return true;
    for (size_t i = 0; i < ev->n_owners; i++)
        if (ev->owners[i] == s->caller.uid)
            return true;
    return false;
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct subscriber *s = cls;
    struct events *e = s->bus;
    size_t n = 0;

    (void) pos;
    if (!e || e->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Events that fell out of the ring are skipped: the stream says what it still has. */
    if (e->next_seq > EVENTS_KEPT && s->next_seq < e->next_seq - EVENTS_KEPT) {
        s->next_seq = e->next_seq - EVENTS_KEPT;
        s->offset = 0;
    }
    while (s->next_seq < e->next_seq && n < max) {
        const struct event *ev = &e->ring[s->next_seq % EVENTS_KEPT];
        if (!may_see(s, ev)) {
            s->next_seq++;
            continue;
        }
        size_t chunk = ev->len - s->offset < max - n ? ev->len - s->offset : max - n;
        memcpy(buf + n, ev->line + s->offset, chunk);
        n += chunk;
        s->offset += chunk;
        if (s->offset == ev->len) {
            s->offset = 0;
            s->next_seq++;
        }
    }
    if (n == 0) {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    return (ssize_t) n;
}

static void free_subscriber(void *cls)
{
    struct subscriber *s = cls;

    if (s->bus) {
        if (s->prev)
            s->prev->next = s->next;
        else
            s->bus->subs = s->next;
        if (s->next)
            s->next->prev = s->prev;
    }
    free(s);
}

int events_stream(struct events *e, struct request *r, uint64_t since_seq, bool replay,
                  struct vps_error *err)
{
    struct subscriber *s = calloc(1, sizeof *s);
    struct MHD_Response *resp;

    if (!s)
        return vps_error_errno(err, ENOMEM, "allocate event stream");
    s->bus = e;
    s->conn = r->conn;
    s->caller = r->caller;
    s->next_seq = replay ? since_seq + 1 : e->next_seq;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_events, s,
                                             free_subscriber);
    if (!resp) {
        free(s);
        return vps_error_set(err, VPS_ERR_SYSTEM, "create event stream");
    }
    s->next = e->subs;
    if (e->subs)
        e->subs->prev = s;
    e->subs = s;
    (void) MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    (void) MHD_add_response_header(resp, "Cache-Control", "no-cache");
    /* A stream is idle for as long as nothing happens; the request timeout is for requests. */
    (void) MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
    return reply_response(r, 200, resp);
}
