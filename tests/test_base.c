/* src/base: base64 round trips (every length mod 3, every byte value), the URL-safe
 * alphabet and optional padding on decode, bad characters refused. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "vdag/base.h"

static void roundtrip(const unsigned char *d, size_t n)
{
    char *s = vd_base64_encode(d, n);
    CHECK(s && strlen(s) == (n + 2) / 3 * 4);
    unsigned char *o = NULL;
    size_t len = 0;
    CHECK(vd_base64_decode(s, strlen(s), &o, &len) == 0);
    CHECKF(len == n && (n == 0 || memcmp(o, d, n) == 0), "length %zu", n);
    CHECK(o && o[len] == 0);
    free(o);
    free(s);
}

int main(void)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    for (size_t n = 0; n <= 7; n++) roundtrip(all + 250 - n, n);
    roundtrip(all, sizeof all);

    char *s = vd_base64_encode((const unsigned char *)"vdag", 4);
    CHECK(s && strcmp(s, "dmRhZw==") == 0);
    free(s);

    unsigned char *o;
    size_t len;
    CHECK(vd_base64_decode("dmRhZw", 6, &o, &len) == 0 && len == 4 && !memcmp(o, "vdag", 4));
    free(o);
    /* 0xfb 0xff = "+/8" standard, "-_8" URL-safe */
    CHECK(vd_base64_decode("-_8=", 4, &o, &len) == 0 && len == 2 && o[0] == 0xfb && o[1] == 0xff);
    free(o);
    CHECK(vd_base64_decode("dm\r\nRhZw==", 10, &o, &len) == 0 && len == 4);
    free(o);
    o = NULL;
    CHECK(vd_base64_decode("dm*hZw==", 8, &o, &len) == VD_EFORMAT && o == NULL);
    CHECK(vd_base64_decode("dm\0hZw==", 8, &o, &len) == VD_EFORMAT);
    return vt_finish();
}
