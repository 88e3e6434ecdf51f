/*
 * Internals of model slicing (slice.c: cuts, the two parts, profile; wire.c: the tensor's
 * wire form; choose.c: the chooser). Not a public API; see include/vdag/slice.h.
 */
#ifndef VDAG_NN_SLICE_INTERNAL_H
#define VDAG_NN_SLICE_INTERNAL_H

#include "nn/nn_internal.h"
#include "vdag/slice.h"

struct vd_slicer {
    vd__model *m; /* borrowed */
    int n_cuts;
    vd_cut *cuts;
    int *cut_buf; /* [n_cuts] the buffer that crosses each cut */
    char model_name[VD_WIRE_NAME_MAX + 1];
    uint8_t hash[32];
};

/* The arena bytes of cut i (the crossing buffer), as part A leaves them / part B needs. */
void *vd__cut_data(vd_slicer *s, int i);

/* wire.c: decode a message already checked against cut `cut` (tag from vd_wire_peek)
 * into dst (numel values of the cut's dtype). */
int vd__wire_decode(const vd_wire_tag *tag, const uint8_t *buf, void *dst);

#endif
