/* UTF-8 validation: what JSON text needs. Parsing JSON itself is jansson's. */
#include "vps/utf8.h"

/* Length of the valid UTF-8 sequence at s (1..4) within n bytes, or 0 if there is none:
 * overlong forms, surrogates and code points past U+10FFFF are refused, as JSON requires. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xc2) || (len == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (len == 4 && s[0] == 0xf0 && s[1] < 0x90) || (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

void vps_utf8_sanitize(char *buf, size_t len)
{
    unsigned char *s = (unsigned char *) buf;

    for (size_t i = 0; i < len;) {
        size_t n = s[i] ? seq_len(s + i, len - i) : 0;
        if (n == 0) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
}
