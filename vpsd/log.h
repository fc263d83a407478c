/* vpsd's logging: one line per event on stderr, with a <N> syslog-priority prefix when
 * stderr is the journal. libvps never logs; vpsd logs each failure once, where it gives up. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "vps/error.h"

void log_setup(int max_level);
/* "err", "warning", "notice", "info", "debug" → syslog level, or -1. */
int log_level_from_name(const char *name);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
/* Logs "<prefix>: <formatted error>" at level. Returns -1. */
int log_error(int level, const struct vps_error *err, const char *fmt, ...) _printf_(3, 4);

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
