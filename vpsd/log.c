/* Log lines to stderr, journal-aware. What is logged is decided by the callers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool journal;

/* $JOURNAL_STREAM is "dev:ino" of the journal's stream; if stderr is that very file,
 * systemd-journald reads a leading <N> as the line's priority. */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(int level)
{
    max_level = level;
    journal = stderr_is_journal();
}

int log_level_from_name(const char *name)
{
    static const char *const names[] = {[LOG_ERR] = "err",
                                        [LOG_WARNING] = "warning",
                                        [LOG_NOTICE] = "notice",
                                        [LOG_INFO] = "info",
                                        [LOG_DEBUG] = "debug"};
    for (size_t i = 0; i < ELEMENTSOF(names); i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (int) i;
    return -1;
}

static void vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vlog(int level, const char *fmt, va_list ap)
{
    char line[2048];

    if (level > max_level)
        return;
    (void) vsnprintf(line, sizeof line, fmt, ap);
    if (journal)
        (void) fprintf(stderr, "<%d>%s\n", level, line);
    else
        (void) fprintf(stderr, "vpsd: %s\n", line);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

int log_error(int level, const struct vps_error *err, const char *fmt, ...)
{
    char ctx[512], msg[1024];
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    log_msg(level, "%s%s%s", ctx, ctx[0] ? ": " : "", vps_error_format(err, msg, sizeof msg));
    return -1;
}
