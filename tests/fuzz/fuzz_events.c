/*
 * Fuzz: what the cloud's events read from the edges' results (src/node/cloud_events.c: a
 * result header's counts, track ids, labels and any stage's "events" array) and the MQTT
 * URL parser (vd_mqtt_url_parse, src/net/mqtt.c). The input's first line is parsed as an
 * MQTT URL; the whole input, as JSON, is a result header fed twice to one job's event state
 * (with and without the DAG), on a publisher with nowhere to publish.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/cloud_events.h"
#include "vdag/dag.h"
#include "vdag/net.h"

static vd_dag *dag;
static vd__events *ev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vd_error err = {0};
    vd__events_opts o = {.cloud = "cloud", .leave_frames = 2};
    if (vd_dag_from_pipeline("object_detection,pose_estimation", &dag, &err) ||
        vd__events_start(&o, &ev, &err))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[512], host[256], user[128], pass[256];
    size_t n = 0;
    while (n < size && n + 1 < sizeof line && data[n] != '\n') line[n] = (char)data[n], n++;
    line[n] = 0;
    int port = 0;
    vd_error err = {0};
    if (vd_mqtt_url_parse(line, host, sizeof host, &port, user, sizeof user, pass, sizeof pass,
                          &err) == 0 &&
        (!host[0] || port < 1 || port > 65535))
        abort();
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (!j) return 0;
    vd__ev_job *st = NULL;
    vd__events_result(ev, &st, "fuzz.1", dag, j);
    vd__events_result(ev, &st, "fuzz.1", NULL, j);
    vd__events_done(ev, &st, "fuzz.1", "e1", "finished", NULL);
    vd__events_plan(ev, "fuzz.1", "e1", j);
    json_decref(j);
    return 0;
}
