/* Tiny TF.js graph models written by a test: a model.json whose topology is given as
 * JSON text, and one weight shard holding the Const nodes' data. Used by test_nn_graphs.c
 * (lowering paths checked against direct C computations) and test_nn_errors.c (crafted
 * models). Header-only; each test includes it once. */
#ifndef VDAG_TEST_NN_TINY_H
#define VDAG_TEST_NN_TINY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct tiny_weight {
    const char *name;  /* a Const node of the topology */
    const char *dtype; /* "float32" or "int32" */
    int ndim;
    int64_t shape[6];
    const void *data; /* product(shape) 4-byte values */
} tiny_weight;

/* Write DIR/TAG.json and DIR/TAG.bin. `nodes` is the JSON text of modelTopology.node;
 * `signature`, when not NULL, the JSON text of the top-level "signature" (else outputs
 * are the graph's sinks). Returns the json path (static buffer), or NULL if a JSON text
 * does not parse or a file cannot be written. */
static const char *tiny_model_sig(const char *dir, const char *tag, const char *nodes,
                                  const char *signature, const tiny_weight *w, int nw)
{
    static char path[512];
    char bin[512], binname[128];
    json_error_t je;
    json_t *jn = json_loads(nodes, 0, &je);
    if (!jn) {
        fprintf(stderr, "tiny_model %s: %s (line %d)\n", tag, je.text, je.line);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s.json", dir, tag);
    snprintf(bin, sizeof bin, "%s/%s.bin", dir, tag);
    snprintf(binname, sizeof binname, "%s.bin", tag);
    FILE *f = fopen(bin, "wb");
    if (!f) {
        json_decref(jn);
        return NULL;
    }
    json_t *ws = json_array();
    for (int i = 0; i < nw; i++) {
        json_t *shape = json_array();
        size_t cnt = 1;
        for (int d = 0; d < w[i].ndim; d++) {
            json_array_append_new(shape, json_integer(w[i].shape[d]));
            cnt *= (size_t)w[i].shape[d];
        }
        fwrite(w[i].data, 4, cnt, f);
        json_array_append_new(ws, json_pack("{s:s, s:o, s:s}", "name", w[i].name, "shape", shape,
                                            "dtype", w[i].dtype));
    }
    fclose(f);
    json_t *doc =
        json_pack("{s:s, s:{s:o}, s:[{s:[s], s:o}]}", "format", "graph-model", "modelTopology",
                  "node", jn, "weightsManifest", "paths", binname, "weights", ws);
    if (signature) {
        json_t *sig = json_loads(signature, 0, &je);
        if (!sig) {
            fprintf(stderr, "tiny_model %s signature: %s (line %d)\n", tag, je.text, je.line);
            json_decref(doc);
            return NULL;
        }
        json_object_set_new(doc, "signature", sig);
    }
    int rc = json_dump_file(doc, path, JSON_INDENT(1));
    json_decref(doc);
    return rc ? NULL : path;
}

/* tiny_model_sig without a signature. */
static const char *tiny_model(const char *dir, const char *tag, const char *nodes,
                              const tiny_weight *w, int nw)
{
    return tiny_model_sig(dir, tag, nodes, NULL, w, nw);
}

#endif
