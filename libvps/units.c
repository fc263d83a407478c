/* Human units on the command line: parsing sizes, CPU counts, durations and plain counts into
 * the integers the API takes, and formatting them back for tables. Every parser is exact
 * (integer arithmetic, no floating point) and strict about what it accepts. */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vps/units.h"

/* Sizes and durations may carry a fraction ("1.5G"); more digits than this carry no
 * meaning and would only risk overflow in the scaling below. */
#define MAX_FRAC_DIGITS 9

struct decimal {
    uint64_t whole;
    uint64_t frac; /* the digits after the point, as an integer */
    unsigned frac_digits;
    const char *end; /* first character after the number */
};

static const uint64_t pow10_table[] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "12" or "12.345", then anything (the caller judges the rest). Digits are required on both
 * sides of a point, so ".5" and "1." are refused rather than guessed at. */
static int parse_decimal(const char *s, const char *what, const char *kind, unsigned max_frac,
                         struct decimal *ret, struct vps_error *err)
{
    struct decimal d = {0};
    const char *p = s;

    if (!*s)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected %s, got an empty value", what,
                             kind);
    if (*s == '-')
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is negative", what, s);
    if (!is_digit(*p))
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected %s, got '%.64s'", what, kind, s);
    for (; is_digit(*p); p++) {
        unsigned digit = (unsigned) (*p - '0');
        if (d.whole > (UINT64_MAX - digit) / 10)
            return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is too large", what, s);
        d.whole = d.whole * 10 + digit;
    }
    if (*p == '.' && max_frac > 0) {
        p++;
        if (!is_digit(*p))
            return vps_error_set(err, VPS_ERR_INVALID, "%s: expected %s, got '%.64s'", what, kind,
                                 s);
        for (; is_digit(*p); p++) {
            if (d.frac_digits == max_frac)
                return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' has more than %u decimals",
                                     what, s, max_frac);
            d.frac = d.frac * 10 + (uint64_t) (*p - '0');
            d.frac_digits++;
        }
    }
    d.end = p;
    *ret = d;
    return 0;
}

/* whole.frac * mult, rounded down; fails past limit. */
static int scale(const struct decimal *d, uint64_t mult, uint64_t limit, const char *s,
                 const char *what, uint64_t *ret, struct vps_error *err)
{
    unsigned __int128 v = (unsigned __int128) d->whole * mult;

    v += (unsigned __int128) d->frac * mult / pow10_table[d->frac_digits];
    if (v > limit)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: '%.64s' is too large", what, s);
    *ret = (uint64_t) v;
    return 0;
}

static int size_multiplier(const char *unit, uint64_t *ret)
{
    static const char letters[] = "KMGTPE";
    size_t i;

    if (!*unit || strcasecmp(unit, "b") == 0) {
        *ret = 1;
        return 0;
    }
    for (i = 0; letters[i] && letters[i] != toupper((unsigned char) *unit); i++)
        ;
    if (!letters[i])
        return -1;
    unit++;
    if (*unit && strcasecmp(unit, "b") != 0 && strcasecmp(unit, "ib") != 0)
        return -1;
    *ret = UINT64_C(1) << (10 * (i + 1));
    return 0;
}

int vps_parse_size(const char *s, const char *what, uint64_t *ret_bytes, struct vps_error *err)
{
    static const char kind[] = "a size like 512M or 1.5G";
    struct decimal d = {0};
    uint64_t mult;

    if (parse_decimal(s, what, kind, MAX_FRAC_DIGITS, &d, err) < 0)
        return -1;
    if (size_multiplier(d.end, &mult) < 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: invalid size '%.64s', expected a number with an optional unit "
                             "K, M, G, T, P or E (like 512M or 1.5G)",
                             what, s);
    if (mult == 1 && d.frac_digits > 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: '%.64s' is a fraction of a byte; add a unit, like 1.5G", what, s);
    return scale(&d, mult, INT64_MAX, s, what, ret_bytes, err);
}

int vps_parse_cpus(const char *s, const char *what, uint32_t *ret_millicpus, struct vps_error *err)
{
    static const char kind[] = "a number of CPUs like 2 or 1.5";
    struct decimal d = {0};
    uint64_t m = 0;

    if (parse_decimal(s, what, kind, 3, &d, err) < 0)
        return -1;
    if (*d.end)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected %s, got '%.64s'", what, kind, s);
    if (scale(&d, 1000, UINT32_MAX, s, what, &m, err) < 0)
        return -1;
    if (m == 0)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: must be greater than 0", what);
    *ret_millicpus = (uint32_t) m;
    return 0;
}

static int duration_multiplier(const char *unit, uint64_t *ret)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    };

    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (strcmp(unit, units[i].name) == 0) {
            *ret = units[i].ms;
            return 0;
        }
    return -1;
}

int vps_parse_duration(const char *s, const char *what, uint64_t *ret_ms, struct vps_error *err)
{
    static const char kind[] = "a duration like 30s or 500ms";
    struct decimal d = {0};
    uint64_t mult;

    if (parse_decimal(s, what, kind, MAX_FRAC_DIGITS, &d, err) < 0)
        return -1;
    if (!*d.end && d.whole == 0 && d.frac == 0) {
        *ret_ms = 0;
        return 0;
    }
    if (!*d.end)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: '%.64s' needs a unit: ms, s, m, h or d (like 30s)", what, s);
    if (duration_multiplier(d.end, &mult) < 0)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: invalid duration '%.64s', expected a number with a unit ms, s, "
                             "m, h or d (like 30s)",
                             what, s);
    return scale(&d, mult, INT64_MAX, s, what, ret_ms, err);
}

int vps_parse_uint(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *ret,
                   struct vps_error *err)
{
    struct decimal d = {0};

    if (parse_decimal(s, what, "a whole number", 0, &d, err) < 0)
        return -1;
    if (*d.end)
        return vps_error_set(err, VPS_ERR_INVALID, "%s: expected a whole number, got '%.64s'", what,
                             s);
    if (d.whole < min || d.whole > max)
        return vps_error_set(err, VPS_ERR_INVALID,
                             "%s: %" PRIu64 " is out of range %" PRIu64 "..%" PRIu64, what, d.whole,
                             min, max);
    *ret = d.whole;
    return 0;
}

const char *vps_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char letters[] = "KMGTPE";
    unsigned u = 0;
    unsigned __int128 tenths;

    if (bytes < 1024) {
        (void) snprintf(buf, size, "%" PRIu64, bytes);
        return buf;
    }
    while (u + 1 < sizeof letters - 1 && bytes >> (10 * (u + 2)) > 0)
        u++;
    tenths =
        ((unsigned __int128) bytes * 10 + (UINT64_C(1) << (10 * (u + 1))) / 2) >> (10 * (u + 1));
    /* Rounding can reach the next unit: 1023.96M is "1G", not "1024M". */
    if (tenths >= 10240 && u + 1 < sizeof letters - 1) {
        u++;
        tenths = (tenths + 512) / 1024;
    }
    if (tenths % 10 == 0)
        (void) snprintf(buf, size, "%" PRIu64 "%c", (uint64_t) (tenths / 10), letters[u]);
    else
        (void) snprintf(buf, size, "%" PRIu64 ".%u%c", (uint64_t) (tenths / 10),
                        (unsigned) (tenths % 10), letters[u]);
    return buf;
}

const char *vps_format_cpus(uint32_t millicpus, char *buf, size_t size)
{
    unsigned frac = millicpus % 1000;
    unsigned digits = 3;

    if (frac == 0) {
        (void) snprintf(buf, size, "%" PRIu32, millicpus / 1000);
        return buf;
    }
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    (void) snprintf(buf, size, "%" PRIu32 ".%0*u", millicpus / 1000, (int) digits, frac);
    return buf;
}

const char *vps_format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {
        {"d", 86400 * 1000},
        {"h", 3600 * 1000},
        {"m", 60 * 1000},
        {"s", 1000},
    };

    if (ms == 0) {
        (void) snprintf(buf, size, "0");
        return buf;
    }
    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (ms % units[i].ms == 0) {
            (void) snprintf(buf, size, "%" PRIu64 "%s", ms / units[i].ms, units[i].name);
            return buf;
        }
    (void) snprintf(buf, size, "%" PRIu64 "ms", ms);
    return buf;
}
