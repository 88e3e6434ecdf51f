/*
 * vdag media: video sources, still images, scaling, JPEG, MJPEG output, rendering.
 *
 * Frames are vd_frame (include/vdag/frame.h), packed RGB24. Every function that returns
 * a frame or buffer hands the caller a new one it owns (vd_frame_free / free); inputs
 * are never modified except the frame a canvas draws on.
 * Thread-safety: images, scaling, crop+resize and JPEG keep no shared state and may be
 * called from any thread. A vd_source has one consumer thread (vd_source_read) and
 * takes vd_source_set_conf and the getters from any thread. A vd_mjpeg_writer and a
 * vd_canvas belong to one thread at a time. See docs/media.md.
 */
#ifndef VDAG_MEDIA_H
#define VDAG_MEDIA_H

#include "vdag/error.h"
#include "vdag/frame.h"

/* The largest frame a decoder here makes, in pixels (width x height): every decode (JPEG,
 * JPEG strips, still images, video sources) checks it from the image's or stream's header
 * before it allocates anything and fails with VD_ETOOBIG beyond it, so a small file that
 * declares a huge picture costs nothing. Default VD_MAX_PIXELS_DEFAULT, 8192 x 8192 = 64 Mpx
 * (a 192 MiB RGB frame; 8K UHD is 33 Mpx). Process-wide, any thread; px <= 0: the default. */
#define VD_MAX_PIXELS_DEFAULT ((int64_t)8192 * 8192)
void vd_media_set_max_pixels(int64_t px);
int64_t vd_media_max_pixels(void);
/* VD_ETOOBIG naming `what` (a path, "jpeg") when w x h is over the limit, else 0. */
int vd_media_check_pixels(const char *what, int64_t w, int64_t h, vd_error *err);

/* Decode a still image into RGB24: JPEG through libjpeg-turbo, anything else (PNG, BMP,
 * …) through FFmpeg's image2 demuxer. Errors name the path (VD_EIO missing/unreadable,
 * VD_EFORMAT not an image). */
int vd_image_load(const char *path, vd_frame **out, vd_error *err);

/* PSNR of b against a in dB over the RGB bytes (99 for identical frames, -1 when their sizes
 * differ): how close a coded frame came back (JPEG, H.264). */
double vd_frame_psnr(const vd_frame *a, const vd_frame *b);

/* Bilinear resize of the whole frame to w x h (aspect not kept). */
int vd_frame_scale(const vd_frame *src, int w, int h, vd_frame **out, vd_error *err);

/* Crop the box (x1,y1)-(x2,y2) in src pixel coordinates (may extend past the border:
 * outside is black) and resize it bilinearly to out_w x out_h. */
int vd_frame_crop_resize(const vd_frame *src, float x1, float y1, float x2, float y2, int out_w,
                         int out_h, vd_frame **out, vd_error *err);

/* ---- video sources ------------------------------------------------------------------ */

/* The plan's video configuration as a source applies it. */
typedef struct vd_video_conf {
    int resolution_h; /* output height (360/480/720/1080), aspect kept, even width; 0 = native */
    double fps;       /* target rate; frames are dropped to reach it; 0 = native */
    int nskip;        /* frames skipped after each processed frame */
} vd_video_conf;

typedef struct vd_source_opts {
    int loop;      /* files: start again at the end (cam_frame_id keeps counting) */
    int queue_cap; /* decoded frames buffered ahead (default 8) */
    int threads;   /* decoder threads (default 1; inference needs the rest) */
    vd_video_conf conf;
    int force_live; /* treat a file as a live camera: drop oldest when full, reopen at end */
} vd_source_opts;

/* A video source: a file, an RTSP/HTTP URL or a V4L2 device (/dev/videoN), decoded by
 * FFmpeg on its own thread into a bounded queue. A file applies back-pressure (the
 * decoder waits); a live source drops the oldest frame and, if it fails, is reopened
 * with exponential back-off (0.5 s to 8 s) until closed (vd_source_status_get tells).
 * RTSP goes over TCP unless the URL names a transport with FFmpeg's URL options
 * ("rtsp://host/path?udp" for a server that sends RTP over UDP only); an HTTP URL that
 * serves a file (a duration, and a length or seeking) is read as a file.
 * Thread-safety: vd_source_read from one consumer thread; vd_source_set_conf from any
 * thread. Frames returned are owned by the caller. */
typedef struct vd_source vd_source;

/* Open `url` (opts may be NULL) and start decoding. Errors name the URL: VD_EIO cannot
 * open, VD_EFORMAT not a video, VD_EUNSUPP no decoder, VD_EINVAL bad options.
 * Frames carry cam_frame_id (index in the source, counting dropped frames, loops and
 * reopens) and pts_us (0 at the first frame, monotonic over loops and reopens). */
int vd_source_open(const char *url, const vd_source_opts *opts, vd_source **out, vd_error *err);
/* Next frame (blocks up to timeout_ms; <0 = forever). VD_EEOF at the end of a file,
 * VD_ETIMEDOUT when nothing came in time. */
int vd_source_read(vd_source *s, vd_frame **out, int timeout_ms, vd_error *err);
/* Change resolution/fps/nskip; applies to frames decoded after the call (frames already
 * queued keep the old conf). */
void vd_source_set_conf(vd_source *s, const vd_video_conf *conf);
double vd_source_native_fps(const vd_source *s);
int vd_source_is_live(const vd_source *s);
/* Frames decoded so far (before fps/nskip selection); any thread. */
int64_t vd_source_decoded(const vd_source *s);
/* Frames a live source dropped because the queue was full (consumer too slow). */
int64_t vd_source_dropped(const vd_source *s);
/* A live stream's state (any thread): a file is always up. */
typedef struct vd_source_status {
    int up;             /* the stream is open */
    int64_t lost;       /* times it was lost */
    int64_t reconnects; /* times it was opened again after that */
    int64_t attempts;   /* failed attempts to open it again since it was last lost */
    double down_ms;     /* for how long it has been down (0 when up) */
    char error[512];    /* when down: why it was lost, or why the last attempt failed */
} vd_source_status;
void vd_source_status_get(vd_source *s, vd_source_status *st);
/* Stop the decode thread (interrupting a blocking network read or a back-off wait) and
 * free the source and its queued frames. Frames already read stay valid. NULL is a no-op. */
void vd_source_close(vd_source *s);

/* Whether url names a source vdag reads, from its form: a path (a file, an image2 pattern,
 * /dev/videoN) or an rtsp://, rtsps://, http://, https:// or file:// URL. VD_EINVAL for an
 * empty one or an unknown scheme; VD_EUNSUPP when this FFmpeg lacks the protocol or (for
 * /dev/videoN) V4L2. No I/O. */
int vd_source_check_url(const char *url, vd_error *err);
/* What a probe found. */
typedef struct vd_source_info {
    int live;          /* read as a live stream: paced by its source, reopened when lost */
    int width, height; /* 0 when not known without decoding (RTSP: its SDP may not say) */
    double fps;        /* 0 when not known */
    char codec[32];
} vd_source_info;
/* Check that url opens as a video, within timeout_ms (<= 0: 5 s), without decoding a live
 * stream: vd_source_check_url, then a file or device must exist (VD_ENOTFOUND), be a
 * regular file or a character device (VD_EINVAL: no FIFOs, no /dev/zero) and be readable
 * (VD_EIO); then FFmpeg opens it (an RTSP URL: its description only; else the container and
 * decoder): the errors of vd_source_open, VD_ETIMEDOUT past the time. An HTTP URL is live
 * unless the server serves a file (a duration, and a length or seeking). */
int vd_source_probe(const char *url, int timeout_ms, vd_source_info *info, vd_error *err);

/* Parse "360p"/"480p"/"720p"/"1080p" (or a bare height); 0 for "native"/"". <0 on error. */
int vd_resolution_parse(const char *s);

/* ---- JPEG (libjpeg-turbo) ------------------------------------------------------------- */

/* Encode to a malloc'd JPEG (caller frees *out). quality 1..100. */
int vd_jpeg_encode(const vd_frame *f, int quality, unsigned char **out, size_t *len, vd_error *err);
/* Decode a JPEG to a new RGB24 frame; VD_EFORMAT if it is not one. */
int vd_jpeg_decode(const unsigned char *data, size_t len, vd_frame **out, vd_error *err);
/* Decode at a reduced IDCT scale (1/2, 1/4 or 1/8: the ones libjpeg-turbo has SIMD for),
 * the smallest that still gives about min_w x min_h pixels (at least 90% of each; 0, 0: full
 * size) -- cheaper when a consumer only needs a small image. src_width/src_height are the JPEG's
 * full size, so coordinates a service reports stay in the image's pixels. */
int vd_jpeg_decode_scaled(const unsigned char *data, size_t len, int min_w, int min_h,
                          vd_frame **out, vd_error *err);

/* ---- parallel JPEG coder, for frames sent to other nodes --------------------------------- */

/* A frame coded as n horizontal strips, each a complete baseline 4:2:0 JPEG (every strip but
 * the last a multiple of 16 rows, so the strips decode to the same pixels as one JPEG of the
 * frame), coded and decoded in parallel, one thread per strip. n = 1 is a plain JPEG. */
#define VD_JPEG_MAX_PARTS 4
typedef struct vd_jpeg_parts {
    unsigned char *data; /* the strips back to back (malloc'd when a coder made it) */
    size_t len;
    int n;
    size_t part_len[VD_JPEG_MAX_PARTS];
} vd_jpeg_parts;

/* A coder keeps its threads and libjpeg-turbo handles between calls. Thread-safety: calls on
 * one coder are serialised by its lock; use one per thread for parallel streams. */
typedef struct vd_jpeg_coder vd_jpeg_coder;
/* parts 1..VD_JPEG_MAX_PARTS: the strips per frame (and threads) for encoding. */
int vd_jpeg_coder_new(int parts, vd_jpeg_coder **out, vd_error *err);
void vd_jpeg_coder_free(vd_jpeg_coder *c);
/* Encode f; out->data is malloc'd (free it with free()). Frames under 32 rows get fewer strips. */
int vd_jpeg_coder_encode(vd_jpeg_coder *c, const vd_frame *f, int quality, vd_jpeg_parts *out,
                         vd_error *err);
/* Decode in->n strips (any count up to VD_JPEG_MAX_PARTS, whatever the coder's own) into one
 * frame, at the reduced scale vd_jpeg_decode_scaled picks for min_w x min_h of the whole
 * frame. VD_EFORMAT when a strip is not a JPEG or the strips differ in width. */
int vd_jpeg_coder_decode(vd_jpeg_coder *c, const vd_jpeg_parts *in, int min_w, int min_h,
                         vd_frame **out, vd_error *err);

/* ---- H.264 stream coder, for frames sent to other nodes (h264.c) ------------------------ */

/* An encoder (libx264, ultrafast, zerolatency: one packet per frame, no B-frames) and a
 * decoder for one stream: packets carry a small header (sequence number, keyframe flag), so
 * that a decoder that missed one, or never saw a keyframe, refuses the next with VD_ESTATE
 * ("send a keyframe") instead of decoding garbage; the sender then calls
 * vd_h264_enc_keyframe. Thread-safety: one thread per coder. */
typedef struct vd_h264_enc vd_h264_enc;
typedef struct vd_h264_dec vd_h264_dec;
/* Even width and height (16..8192); crf 1..51 (0: 23), the first frame a keyframe. VD_EUNSUPP
 * without libx264. */
int vd_h264_enc_new(int width, int height, int fps, int crf, vd_h264_enc **out, vd_error *err);
void vd_h264_enc_free(vd_h264_enc *e);
/* The next frame is coded as a keyframe. */
void vd_h264_enc_keyframe(vd_h264_enc *e);
/* One frame (the stream's size) → a packet (*data malloc'd, free()); *key: it is a keyframe. */
int vd_h264_enc_encode(vd_h264_enc *e, const vd_frame *f, unsigned char **data, size_t *len,
                       int *key, vd_error *err);
int vd_h264_dec_new(vd_h264_dec **out, vd_error *err);
void vd_h264_dec_free(vd_h264_dec *d);
/* A packet → a new frame. VD_EFORMAT (not a packet), VD_ESTATE (a gap or no keyframe yet:
 * the sender must send a keyframe), VD_ETOOBIG (over the pixel limit). */
int vd_h264_dec_decode(vd_h264_dec *d, const unsigned char *data, size_t len, vd_frame **out,
                       vd_error *err);

/* ---- MJPEG output ---------------------------------------------------------------------- */

/* Writes frames as concatenated JPEGs to a .mjpeg file, or as numbered
 * frame_000001.jpg files when `path` is a directory (or ends with '/'). Not thread-safe. */
typedef struct vd_mjpeg_writer vd_mjpeg_writer;
int vd_mjpeg_open(const char *path, int quality, vd_mjpeg_writer **out, vd_error *err);
int vd_mjpeg_write(vd_mjpeg_writer *w, const vd_frame *f, vd_error *err);
void vd_mjpeg_close(vd_mjpeg_writer *w);

/* ---- rendering (cairo) ----------------------------------------------------------------- */

/* A canvas draws on a frame: vd_canvas_begin copies the frame into cairo's 4-byte
 * pixel layout and vd_canvas_end copies it back (O(w*h) each way, once per frame).
 * Coordinates are in the frame's own pixels. Not thread-safe; one canvas per frame. */
typedef struct vd_canvas vd_canvas;
typedef struct vd_rgb {
    unsigned char r, g, b;
} vd_rgb;

int vd_canvas_begin(vd_frame *f, vd_canvas **out, vd_error *err);
void vd_draw_box(vd_canvas *c, float x1, float y1, float x2, float y2, vd_rgb color, float width);
void vd_draw_points(vd_canvas *c, const float *xy, int n, vd_rgb color, float radius);
/* n segments, seg[4*i..4*i+3] = x1, y1, x2, y2 (e.g. a skeleton's bones). */
void vd_draw_lines(vd_canvas *c, const float *seg, int n, vd_rgb color, float width);
/* A closed polygon of n >= 3 (x, y) pairs: filled with color at fill_alpha (0 = none), then
 * its outline stroked `width` pixels thick. */
void vd_draw_polygon(vd_canvas *c, const float *xy, int n, vd_rgb color, float width,
                     float fill_alpha);
/* A label with a filled background, its top-left corner at (x, y). */
void vd_draw_label(vd_canvas *c, float x, float y, const char *text, vd_rgb bg, float size);
/* Lines of text in a translucent block at the top-left corner. */
void vd_draw_text_block(vd_canvas *c, const char *const *lines, int n, float size);
void vd_canvas_end(vd_canvas *c);

/* A stable colour for a class or track id. */
vd_rgb vd_color_for(int id);

#endif
