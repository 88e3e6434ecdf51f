/*
 * The HTTP client: one libcurl easy handle per request (no connection reuse), the
 * response body gathered into a growing NUL-terminated buffer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "vdag/net.h"

#define MAX_RESPONSE ((size_t)1 << 30) /* 1 GiB: past it the request fails */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct sink {
    unsigned char *data;
    size_t len, cap;
    int too_big;
} sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *userdata)
{
    sink *k = userdata;
    size_t n = size * nmemb;
    if (k->len + n + 1 > k->cap) {
        if (k->len + n > MAX_RESPONSE) {
            k->too_big = 1;
            return 0; /* curl fails with CURLE_WRITE_ERROR */
        }
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + n + 1) cap *= 2;
        unsigned char *d = realloc(k->data, cap);
        if (!d) return 0;
        k->data = d;
        k->cap = cap;
    }
    memcpy(k->data + k->len, p, n);
    k->len += n;
    k->data[k->len] = 0;
    return n;
}

int vd_http_request(const char *method, const char *url, const char *token, const char *ctype,
                    const void *body, size_t len, int timeout_ms, long *http_status, vd_buf *resp,
                    vd_error *err)
{
    if (http_status) *http_status = 0;
    if (resp) resp->data = NULL, resp->len = 0;
    if (!url || !url[0]) return vd_fail(err, VD_EINVAL, "http request: no URL");
    if (!method || !method[0]) method = body ? "POST" : "GET";
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return vd_fail(err, VD_EBACKEND, "http request: libcurl failed to initialise: %s",
                       curl_easy_strerror(curl_init_rc));

    CURL *h = curl_easy_init();
    if (!h) return vd_fail(err, VD_ENOMEM, "http request: cannot create a libcurl handle");
    struct curl_slist *hdrs = NULL;
    char line[1024];
    sink k = {0};
    char ebuf[CURL_ERROR_SIZE] = "";
    int rc = 0;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    if (timeout_ms > 0) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    }
    if (strcmp(method, "GET") == 0 && !body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        /* POSTFIELDS makes it a request with a body; CUSTOMREQUEST sets the method. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    snprintf(line, sizeof line, "Content-Type: %s", ctype ? ctype : "application/json");
    if (body) hdrs = curl_slist_append(hdrs, line);
    if (token && token[0]) {
        int n = snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        if (n < 0 || (size_t)n >= sizeof line) {
            rc = vd_fail(err, VD_EINVAL, "http request: token too long (%zu bytes)", strlen(token));
            goto out;
        }
        struct curl_slist *t = curl_slist_append(hdrs, line);
        if (!t) {
            rc = vd_fail(err, VD_ENOMEM, "out of memory");
            goto out;
        }
        hdrs = t;
    }
    if (hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        const char *detail = ebuf[0] ? ebuf : curl_easy_strerror(c);
        switch (c) {
        case CURLE_COULDNT_CONNECT:
            rc = vd_fail(err, VD_EIO,
                         "%s %s: cannot connect (%s): is the server running and listening "
                         "on that address?",
                         method, url, detail);
            break;
        case CURLE_COULDNT_RESOLVE_HOST:
            rc = vd_fail(err, VD_EIO, "%s %s: unknown host (%s): check the URL", method, url,
                         detail);
            break;
        case CURLE_OPERATION_TIMEDOUT:
            rc = vd_fail(err, VD_ETIMEDOUT,
                         "%s %s: no complete answer within %d ms (%s): is the server "
                         "overloaded or stuck?",
                         method, url, timeout_ms, detail);
            break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            rc = vd_fail(err, VD_EINVAL, "%s %s: bad URL (%s): expected http://HOST:PORT/PATH",
                         method, url, detail);
            break;
        case CURLE_WRITE_ERROR:
            rc = k.too_big ? vd_fail(err, VD_ETOOBIG, "%s %s: response over %zu bytes", method, url,
                                     MAX_RESPONSE)
                           : vd_fail(err, VD_ENOMEM, "%s %s: out of memory for the response",
                                     method, url);
            break;
        default:
            rc = vd_fail(err, VD_EIO,
                         "%s %s: request failed (%s): the server closed the connection or "
                         "sent a bad reply",
                         method, url, detail);
        }
        goto out;
    }
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (http_status) *http_status = st;
    if (!k.data && !(k.data = calloc(1, 1))) {
        rc = vd_fail(err, VD_ENOMEM, "out of memory");
        goto out;
    }
    if (resp) {
        resp->data = k.data;
        resp->len = k.len;
        k.data = NULL;
    }
out:
    free(k.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}
