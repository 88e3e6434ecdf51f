/*
 * Internal to src/net: the dashboard's files, compiled into the binary (the table is generated
 * at build time by scripts/embed.cmake from web/ and docs/openapi.yaml; immutable).
 */
#ifndef VDAG_NET_STATIC_FILES_H
#define VDAG_NET_STATIC_FILES_H

#include <stddef.h>

typedef struct vd__web_file {
    const char *url;   /* "/", "/static/app.js", "/openapi.yaml" */
    const char *ctype; /* its Content-Type */
    const unsigned char *data;
    size_t len;
} vd__web_file;

extern const vd__web_file vd__web_files[];
extern const int vd__web_n_files;

#endif
