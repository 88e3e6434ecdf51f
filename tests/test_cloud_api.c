/* The cloud's user API against fake edges on the in-process transport (heartbeats published
 * by hand): what a user of the seed's API gets wrong and must be told, and what the seed's
 * routes answer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/node.h"
#include "vdag/sched.h"

/* A heartbeat of fake edge `name` at `addr` (video "0"), run `inst` (NULL: none given). */
static void heartbeat(vd_transport *tr, const char *name, const char *addr, const char *inst)
{
    json_t *hb = json_pack("{s:s,s:s,s:s,s:{s:{s:s,s:s}},s:[],s:[s,s],s:{s:f,s:f,s:i}}", "name",
                           name, "role", "edge", "addr", addr, "video", "0", "type", "t", "path",
                           "x", "jobs", "services", "face_detection", "face_alignment", "resources",
                           "cpu_ratio", 0.1, "mem_ratio", 0.1, "n_cores", 2);
    if (inst) json_object_set_new(hb, "instance", json_string(inst));
    char *str = json_dumps(hb, JSON_COMPACT);
    vd_buf b = {(unsigned char *)str, strlen(str)};
    tr->ops->publish(tr, "vdag.hb", &b, NULL);
    free(str);
    json_decref(hb);
}

/* Call one of the cloud's routes directly: *http gets the HTTP status; the reply's JSON (new
 * reference) or NULL. */
static json_t *route(vd_cloud *c, const char *method, const char *path, const char *tail,
                     const char *body, int *http)
{
    vd_http_route r[48];
    int n = vd_cloud_routes(c, r, 48);
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].method, method) || strcmp(r[i].path, path)) continue;
        vd_http_req q = {.method = method,
                         .path = path,
                         .tail = tail,
                         .body = (const unsigned char *)body,
                         .body_len = strlen(body)};
        vd_http_resp resp = {0};
        r[i].fn(r[i].arg, &q, &resp);
        if (http) *http = resp.status ? resp.status : 200;
        json_t *j = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
        free(resp.body);
        return j;
    }
    if (http) *http = 0;
    return NULL;
}

static const char *node_addr(vd_cloud *c, const char *name)
{
    static char buf[128];
    json_t *r = route(c, "GET", "/user/get_all_status", "", "", NULL);
    const char *a = json_string_value(
        json_object_get(json_object_get(json_object_get(r, "data"), name), "addr"));
    snprintf(buf, sizeof buf, "%s", a ? a : "(none)");
    json_decref(r);
    return buf;
}

/* Two runs of nodes under one name: the second is ignored while the first lives (it would
 * get the first's commands too), never merged; nobody may take the cloud's name. */
static void test_duplicate_names(void)
{
    vd_error err = {0};
    vd_transport *tr = NULL;
    vd_svchost *host = NULL;
    vd_cloud *c = NULL;
    CHECKF(vd_transport_inproc_new(&tr, &err) == 0, "%s", err.msg);
    vd_node_opts o = {.name = "cloud",
                      .addr = "10.0.0.1:5000",
                      .tr = tr,
                      .drop_s = 1,
                      .kb_path = "/nonexistent/kb.json"};
    CHECKF(vd_svchost_start(&o, &host, &err) == 0, "%s", err.msg);
    CHECKF(vd_cloud_start(&o, host, &c, &err) == 0, "%s", err.msg);
    if (!c) return;
    heartbeat(tr, "fe", "10.0.0.2:5001", "aaaa");
    for (int t = 0; t < 5000 && !vd_cloud_has_node(c, "fe"); t += 10) usleep(10000);
    heartbeat(tr, "fe", "10.0.0.3:5001", "bbbb"); /* another node, same name */
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "fe"), "10.0.0.2:5001"), "fe is at %s", node_addr(c, "fe"));
    heartbeat(tr, "fe", "10.0.0.2:5001", "aaaa");
    heartbeat(tr, "cloud", "10.0.0.9:5009", "cccc"); /* the cloud's name */
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "cloud"), "10.0.0.1:5000"), "cloud is at %s",
           node_addr(c, "cloud"));
    /* the first falls silent (past drop_s): the new run is the node restarted */
    usleep(1300 * 1000);
    heartbeat(tr, "fe", "10.0.0.3:5001", "bbbb");
    usleep(100 * 1000);
    CHECKF(!strcmp(node_addr(c, "fe"), "10.0.0.3:5001"), "fe is at %s after a restart",
           node_addr(c, "fe"));
    /* a name check: "cloud" is served (its service host answers node.ping), "nobody" not */
    CHECK(vd_node_name_check(tr, "cloud", 500, &err) == VD_EALREADY &&
          strstr(err.msg, "10.0.0.1:5000"));
    CHECK(vd_node_name_check(tr, "nobody", 500, &err) == 0);
    vd_cloud_stop(c);
    vd_svchost_stop(host);
    vd_transport_close(tr);
    vd_cloud_free(c);
    vd_svchost_free(host);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_duplicate_names();
    return vt_finish();
}
