/*
 * The dashboard and the API description, served from the binary (static_files.h): GET / is
 * web/index.html, GET /static/NAME the other files of web/, GET /openapi.yaml
 * docs/openapi.yaml. The routes are open (no token: the page itself asks for it; nothing in
 * these files is secret), GET/HEAD only.
 */
#include <stdlib.h>
#include <string.h>

#include "net/static_files.h"
#include "vdag/net.h"

static int r_file(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)arg;
    for (int i = 0; i < vd__web_n_files; i++) {
        const vd__web_file *f = &vd__web_files[i];
        if (strcmp(f->url, req->path)) continue;
        char *b = malloc(f->len ? f->len : 1);
        if (!b) return VD_ENOMEM;
        memcpy(b, f->data, f->len);
        resp->status = 200;
        resp->content_type = f->ctype;
        resp->body = b;
        resp->len = f->len;
        return 0;
    }
    vd_http_fail(resp, VD_ENOTFOUND, "no file %s: the dashboard's files are /, /static/…",
                 req->path);
    return VD_ENOTFOUND;
}

int vd_http_static_routes(vd_http_route *r, int cap)
{
    static const vd_http_route mine[] = {
        {"GET", "/", r_file, NULL},
        {"GET", "/static/", r_file, NULL},
        {"GET", "/openapi.yaml", r_file, NULL},
    };
    int n = (int)(sizeof mine / sizeof *mine);
    if (n > cap) return VD_ETOOBIG;
    memcpy(r, mine, sizeof mine);
    return n;
}
