/*
 * Fuzz: the DAG JSON a user submits (the seed's {generator, flow, input} and the short
 * {"pipeline": […]}). A DAG that parses must survive its own round trip: the seed form it
 * is written back as parses again to the same form.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vdag/dag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    vd_dag *d = NULL;
    vd_error err = {0};
    if (vd_dag_parse(text, "dag", &d, &err) == 0) {
        json_t *j = vd_dag_to_json(d);
        vd_dag *d2 = NULL;
        if (vd_dag_from_json(j, "dag", &d2, &err)) abort(); /* its own form must parse */
        json_t *j2 = vd_dag_to_json(d2);
        if (!json_equal(j, j2)) abort();
        json_decref(j2);
        json_decref(j);
        vd_dag_free(d2);
        vd_dag_free(d);
    } else if (!err.msg[0]) {
        abort(); /* every refusal says why */
    }
    free(text);
    return 0;
}
