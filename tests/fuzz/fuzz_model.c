/*
 * Fuzz: loading a TF.js graph model, model.json and its weights (src/nn through its public
 * API). Input: the model.json text, a NUL byte, then the weights shard. The harness writes
 * them to a private directory (tmpfs when there is one) as model.json and w.bin, every
 * weightsManifest path of a JSON that parses pointing at w.bin (a path elsewhere would read
 * whatever file it names), then loads; a model that loads with small tensors is run once on
 * zeros.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdag/nn.h"

static char dir[64], json_path[96], bin_path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "%s/vdag-fuzz-model-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(json_path, sizeof json_path, "%s/model.json", dir);
    snprintf(bin_path, sizeof bin_path, "%s/w.bin", dir);
    if (vd_nn_init(NULL)) abort();
    return 0;
}

static void spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t jl = nul ? (size_t)(nul - data) : size;
    json_t *doc = json_loadb((const char *)data, jl, 0, NULL);
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "weightsManifest"), i, g)
    {
        json_t *paths = json_object_get(g, "paths");
        size_t k;
        json_t *p;
        json_array_foreach(paths, k, p) if (json_is_string(p)) json_string_set(p, "w.bin");
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    spit(json_path, text ? text : (const char *)data, text ? strlen(text) : jl);
    free(text);
    json_decref(doc);
    spit(bin_path, nul ? nul + 1 : data, nul ? size - jl - 1 : 0);
    vd_model *m = NULL;
    vd_error err = {0};
    vd_model_opts o = {.threads = 1};
    if (vd_model_load(json_path, &o, &m, &err)) {
        if (m || !err.msg[0]) abort(); /* a refusal leaves nothing and says why */
        return 0;
    }
    int64_t in = 0, out = 0;
    for (int k = 0; k < vd_model_n_inputs(m); k++) in += vd_tensor_numel(vd_model_input(m, k));
    for (int k = 0; k < vd_model_n_outputs(m); k++) out += vd_tensor_numel(vd_model_output(m, k));
    if (vd_model_n_inputs(m) == 1 && in > 0 && in <= 1 << 16 && out <= 1 << 20) {
        const vd_tensor *t = vd_model_input(m, 0);
        size_t bytes = (size_t)in * 4;
        void *z = calloc(1, bytes);
        (void)t;
        if (z) vd_model_run(m, z, bytes, &err);
        free(z);
    }
    vd_model_free(m);
    return 0;
}
