/*
 * GET /metrics: the process's metrics registry (vdag/metrics.h) in the Prometheus text
 * format, and the HTTP server's own counters (requests by route, method and code; their
 * durations), which http_server.c reports here as each request completes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "net/http_internal.h"
#include "vdag/metrics.h"
#include "vdag/net.h"

int vd_http_metrics(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    (void)arg, (void)req;
    size_t len = 0;
    char *text = vd_metrics_render(&len);
    if (!text) {
        vd_http_fail(resp, VD_ENOMEM, "GET /metrics: out of memory while rendering the metrics");
        return VD_ENOMEM;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = text;
    resp->len = len;
    return 0;
}

void vd__http_count(const char *route, const char *method, int status, double seconds)
{
    char labels[384], code[16];
    snprintf(code, sizeof code, "%d", status);
    vd_metrics_labels(labels, sizeof labels, "route", route, "method", method, "code", code,
                      (char *)NULL);
    vd_metric_add("vdag_http_requests_total", labels, 1);
    vd_metrics_labels(labels, sizeof labels, "route", route, (char *)NULL);
    vd_metric_observe("vdag_http_request_duration_seconds", labels, seconds);
}
