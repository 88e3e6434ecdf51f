/*
 * The node roles: `vdag run` without --pipeline/--dag (pseudo mode: cloud + edge + service
 * hosts in one process, in-process transport), `vdag cloud` and `vdag edge` (cluster mode
 * over NATS). The seed's flags (--side=c|e --mode=pseudo|cluster --cloud_ip
 * --serv_cloud_addr) are accepted as aliases. Also `vdag nats-server` (`vdag profile`:
 * cmd_profile.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "vdag/base.h"
#include "vdag/media.h"
#include "vdag/node.h"

typedef struct node_args {
    const char *listen, *advertise, *token, *nats, *name, *kb, *cors;
    const char *mqtt, *mqtt_id, *mqtt_user_file, *mqtt_topic; /* the cloud's events */
    int leave_frames;
    vd_cli_nats nc; /* --nats and the identity flags (cli_nats.c) */
    int threads, svc_threads, loop, no_pace, profile;
    double replan, drop;
    size_t max_body;
    int n_videos;
    vd_video_src videos[VD_NODE_MAX_VIDEOS];
    char nats_buf[300];
    vd_batch_cli batch; /* the cloud's /videos (cmd_batch.c) */
} node_args;

void vd_usage_cloud_edge(FILE *f, const char *role)
{
    int run = !strcmp(role, "run"), cloud = !strcmp(role, "cloud");
    fprintf(f,
            "usage: vdag %s [--listen HOST:PORT] [--advertise HOST:PORT] [--token T]%s%s%s\n"
            "       [--threads N] [--svc-threads N] [--replan S] [--drop S] [--max-body BYTES]\n"
            "       [--loop] [--no-pace] [--no-profile] [--kb FILE] [--cpu-own]\n"
            "  --listen      HTTP API address (default 127.0.0.1:5000)\n"
            "  --advertise   HOST:PORT others reach this node at, accepted as its node_addr\n"
            "                (default: --listen; for 0.0.0.0 this machine's first address)\n"
            "  --token       require 'Authorization: Bearer T' on every route but /healthz\n"
            "  --cors ORIGIN let web pages of ORIGIN (http://host:port, or *) call the API\n"
            "  --max-pixels N|WxH  largest picture decoded (default 8192x8192)\n",
            role, cloud ? "" : " [--name N]", cloud ? "" : " [--video ID=PATH[=TYPE] ...]",
            run ? "" : " --nats URL");
    if (!cloud)
        fprintf(f, "  --name        this node's name, unique in the cluster (default edge)\n"
                   "  --video       ID=PATH[=TYPE], a video this node owns (file, URL,\n"
                   "                /dev/videoN); without any, pseudo mode takes ./input/\n");
    fprintf(
        f,
        "  --nats        NATS server URL (cluster mode), e.g. nats://127.0.0.1:4222\n"
        "%s"
        "%s"
        "  --threads     inference threads per job (default cores - 1)\n"
        "  --svc-threads inference threads per service instance (default 1)\n"
        "  --replan      seconds between re-plans (default 5)\n"
        "  --drop        seconds of silence before a node is dropped (default 3)\n"
        "  --max-body    largest request body in bytes (default 16 MiB)\n"
        "  --loop        file videos loop like cameras; --no-pace reads them at full speed\n"
        "  --no-profile  do not profile the services when no profile is cached; --kb FILE\n"
        "                the profile to use\n"
        "  --cpu-own     report this process's CPU (a share of the cores it may run on) as\n"
        "                the node's, not the machine's: for nodes sharing a box\n"
        "  seed aliases: --side=c|e --mode=pseudo|cluster --cloud_ip=IP "
        "--serv_cloud_addr=ADDR\n%s",
        vd_cli_nats_usage(),
        strcmp(role, "edge")
            ? "  --mqtt URL    events also to this MQTT broker (mqtt://HOST[:PORT];\n"
              "                docs/events.md); --mqtt-id ID its client id, --mqtt-topic P\n"
              "                the topics' prefix (vdag), --mqtt-user-file FILE (USER:PASSWORD;\n"
              "                or $VDAG_MQTT_USER and $VDAG_MQTT_PASSWORD)\n"
              "  --leave-frames N  a track missing from N results has left (default 10)\n"
            : "",
        strcmp(role, "edge") ? vd_batch_cli_usage() : "");
}

void vd_usage_cloud(FILE *f)
{
    vd_usage_cloud_edge(f, "cloud");
}

void vd_usage_edge(FILE *f)
{
    vd_usage_cloud_edge(f, "edge");
}

static const char *usage_role; /* the role whose usage node_usage_f prints */

static void node_usage_f(FILE *f)
{
    vd_usage_cloud_edge(f, usage_role);
}

/* Split "--flag=value" into flag and value. */
static int parse_node_args(int argc, char **argv, const char *role, node_args *a)
{
    memset(a, 0, sizeof *a);
    usage_role = role;
    int rc;
    a->listen = "127.0.0.1:5000";
    a->profile = 1;
    for (int i = 0; i < argc; i++) {
        char flag[64];
        const char *arg = argv[i], *v = NULL;
        const char *eq = strchr(arg, '=');
        if (!strncmp(arg, "--", 2) && eq && (size_t)(eq - arg) < sizeof flag) {
            memcpy(flag, arg, (size_t)(eq - arg));
            flag[eq - arg] = 0;
            v = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", arg);
        }
#define VAL() (v ? v : (i + 1 < argc ? argv[++i] : NULL))
        if (!strcmp(flag, "--nats-password") || !strcmp(flag, "--nats-user")) {
            vd_cli_nats_flag(&a->nc, role, flag, NULL);
            return 2;
        } else if (!strcmp(flag, "--loop")) {
            a->loop = 1;
        } else if (!strcmp(flag, "--no-pace")) {
            a->no_pace = 1;
        } else if (!strcmp(flag, "--no-profile")) {
            a->profile = 0;
        } else if (!strcmp(flag, "--cpu-own")) {
            vd_resources_cpu_own(1);
        } else {
            static const char *const takes_value[] = {
                "--listen",         "--advertise",   "--token",           "--nats",
                "--name",           "--kb",          "--threads",         "--svc-threads",
                "--replan",         "--drop",        "--max-body",        "--cloud_ip",
                "--side",           "--mode",        "--serv_cloud_addr", "--video",
                "--cors",           "--max-pixels",  "--nats-creds",      "--nats-nkey",
                "--nats-user-file", "--nats-tls-ca", "--nats-tls-cert",   "--nats-tls-key",
                "--nats-dir",       "--data",        "--max-upload",      "--workers",
                "--ack-wait",       "--max-deliver", "--item-frames",     NULL};
            static const char *const event_flags[] = {
                "--mqtt", "--mqtt-id", "--mqtt-topic", "--mqtt-user-file", "--leave-frames", NULL};
            int k = 0, e = 0, batch, nf;
            while (takes_value[k] && strcmp(takes_value[k], flag)) k++;
            while (event_flags[e] && strcmp(event_flags[e], flag)) e++;
            if (strncmp(flag, "--", 2))
                return vd_arg_error(role, node_usage_f, "unexpected argument '%s'", flag);
            if (!takes_value[k] && !event_flags[e]) return vd_arg_unknown(role, flag, node_usage_f);
            const char *val = VAL();
            if (!val) return vd_arg_missing(role, flag, node_usage_f);
            if (event_flags[e]) {
                if (!strcmp(role, "edge"))
                    return vd_arg_error(role, node_usage_f,
                                        "%s: only the cloud publishes events (vdag cloud or run)",
                                        flag);
                if (!strcmp(flag, "--leave-frames")) {
                    if ((rc = vd_arg_int(role, flag, val, 1, 100000, &a->leave_frames))) return rc;
                } else { /* in event_flags' order */
                    const char **dst[] = {&a->mqtt, &a->mqtt_id, &a->mqtt_topic,
                                          &a->mqtt_user_file};
                    *dst[e] = val;
                }
            } else if (!strcmp(flag, "--listen"))
                a->listen = val;
            else if (!strcmp(flag, "--advertise"))
                a->advertise = val;
            else if (!strcmp(flag, "--token"))
                a->token = val;
            else if (!strcmp(flag, "--cors"))
                a->cors = val;
            else if (!strcmp(flag, "--max-pixels")) {
                char *end;
                long long w = strtoll(val, &end, 10), h = 1;
                if (*end == 'x') h = strtoll(end + 1, &end, 10);
                if (*end || w <= 0 || h <= 0 || w > (1LL << 31) || h > (1LL << 31)) {
                    fprintf(stderr, "vdag %s: --max-pixels %s: expected N or WxH, positive\n", role,
                            val);
                    return 2;
                }
                vd_media_set_max_pixels((int64_t)(w * h));
            } else if ((nf = vd_cli_nats_flag(&a->nc, role, flag, val)) != 0) {
                if (nf < 0) return 2;
                a->nats = a->nc.url;
            } else if (!strcmp(flag, "--name"))
                a->name = val;
            else if (!strcmp(flag, "--kb"))
                a->kb = val;
            else if (!strcmp(flag, "--threads")) {
                if ((rc = vd_arg_int(role, flag, val, 1, 256, &a->threads))) return rc;
            } else if (!strcmp(flag, "--svc-threads")) {
                if ((rc = vd_arg_int(role, flag, val, 1, 256, &a->svc_threads))) return rc;
            } else if (!strcmp(flag, "--replan")) {
                if ((rc = vd_arg_double(role, flag, val, 0.1, 86400, &a->replan))) return rc;
            } else if (!strcmp(flag, "--drop")) {
                if ((rc = vd_arg_double(role, flag, val, 0.5, 86400, &a->drop))) return rc;
            } else if (!strcmp(flag, "--max-body")) {
                long mb;
                if ((rc = vd_arg_long(role, flag, val, 1024, 1L << 31, &mb))) return rc;
                a->max_body = (size_t)mb;
            } else if (!strcmp(flag, "--cloud_ip")) {
                snprintf(a->nats_buf, sizeof a->nats_buf, "nats://%s:4222", val);
                a->nats = a->nc.url = a->nats_buf;
            } else if (!strcmp(flag, "--side") || !strcmp(flag, "--mode") ||
                       !strcmp(flag, "--serv_cloud_addr")) {
                /* handled by the dispatcher; services are reached through the transport */
            } else if (!strcmp(flag, "--video")) {
                vd_error err = {0};
                if (a->n_videos == VD_NODE_MAX_VIDEOS ||
                    vd_video_src_parse(val, &a->videos[a->n_videos], &err)) {
                    fprintf(stderr, "vdag %s: %s\n", role,
                            err.msg[0] ? err.msg : "--video: too many videos");
                    return 2;
                }
                /* a bare file name means a cached sample video */
                vd_video_src *vs = &a->videos[a->n_videos++];
                if (!strchr(vs->path, '/') && access(vs->path, R_OK) != 0) {
                    char p[600];
                    if (!vd_media_path(vs->path, p, sizeof p) && access(p, R_OK) == 0 &&
                        strlen(p) < sizeof vs->path)
                        memcpy(vs->path, p, strlen(p) + 1);
                }
            } else if ((batch = vd_batch_cli_flag(&a->batch, flag, val)) != 0) {
                if (batch < 0) return 2;
            } else {
                return vd_arg_unknown(role, flag, node_usage_f);
            }
        }
#undef VAL
    }
    return 0;
}

typedef struct health {
    const char *role, *nats;
    vd_transport *tr;
    int auth; /* the other routes need the token (the dashboard asks) */
} health;

/* GET /healthz: 200 while the node can do its work; 503 VD_ECONN while it is not connected to
 * its broker (a cluster node then reaches nobody). Both say whether routes need the token. */
static int r_healthz(void *arg, const vd_http_req *req, vd_http_resp *resp)
{
    const health *h = arg;
    (void)req;
    int up = h->tr->ops->connected(h->tr);
    if (!up) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%s: not connected to the NATS server at %s (is nats-server running there?); "
                 "retrying",
                 h->role, h->nats ? h->nats : "?");
        vd_http_json(resp, 503,
                     json_pack("{s:i,s:s,s:s,s:s,s:b,s:b}", "status", VD_ECONN, "msg", msg, "role",
                               h->role, "transport", h->tr->ops->name, "connected", 0, "auth",
                               h->auth));
        return 0;
    }
    vd_http_json(resp, 200,
                 json_pack("{s:i,s:s,s:s,s:b,s:b}", "status", 0, "role", h->role, "transport",
                           h->tr->ops->name, "connected", 1, "auth", h->auth));
    return 0;
}

/* Does something accept TCP connections on host:port (within 500 ms)? */
static int port_open(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof e;
        ok = poll(&p, 1, 500) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && !e;
    }
    close(fd);
    return ok;
}

/* The seed's videos: without --video, the files in ./input/ (its pseudo mode's layout:
 * input.mov, input1.mp4, traffic-720p.mp4 with its ids and types, then any other video file
 * by name with the next free ids). Returns how many were added. */
static int input_videos(const char *role, node_args *a)
{
    static const struct {
        const char *file, *id, *type;
    } seed[] = {{"input.mov", "0", "student in classroom"},
                {"input1.mp4", "1", "people in meeting-room"},
                {"traffic-720p.mp4", "3", "traffic flow outdoor"}};
    DIR *d = opendir("input");
    if (!d) return 0;
    char names[VD_NODE_MAX_VIDEOS * 2][256];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < VD_NODE_MAX_VIDEOS * 2) {
        const char *dot = strrchr(de->d_name, '.');
        static const char *const ext[] = {".mov", ".mp4",  ".avi", ".mkv", ".webm", ".flv",
                                          ".mpg", ".mpeg", ".ts",  ".m4v", NULL};
        int k = 0;
        while (dot && ext[k] && strcasecmp(dot, ext[k])) k++;
        if (dot && ext[k] && strlen(de->d_name) < sizeof names[0])
            snprintf(names[nn++], sizeof names[0], "%s", de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    int used[VD_NODE_MAX_VIDEOS * 4] = {0}, added = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nn && a->n_videos < VD_NODE_MAX_VIDEOS; i++) {
            int s = 0;
            while (s < 3 && strcmp(seed[s].file, names[i])) s++;
            if ((pass == 0) != (s < 3)) continue;
            vd_video_src *v = &a->videos[a->n_videos];
            memset(v, 0, sizeof *v);
            int id = s < 3 ? atoi(seed[s].id) : 0;
            while (s == 3 && used[id]) id++;
            used[id] = 1;
            snprintf(v->id, sizeof v->id, "%d", id);
            snprintf(v->path, sizeof v->path, "input/%.*s", (int)(sizeof v->path - 8), names[i]);
            snprintf(v->type, sizeof v->type, "%.63s", s < 3 ? seed[s].type : names[i]);
            a->n_videos++, added++;
        }
    if (added)
        fprintf(stderr, "vdag %s: no --video given: %d video%s from ./input/\n", role, added,
                added > 1 ? "s" : "");
    return added;
}

/* The address a node is reached at: --advertise, else the listen address, with a wildcard
 * host (0.0.0.0, ::, empty) replaced by this machine's first non-loopback IPv4 address. */
static void advertised(const node_args *a, const char *host, int port, char *out, size_t n)
{
    if (a->advertise) {
        snprintf(out, n, "%s", a->advertise);
        return;
    }
    if (*host && strcmp(host, "0.0.0.0") && strcmp(host, "::")) {
        snprintf(out, n, "%s:%d", host, port);
        return;
    }
    char ip[INET_ADDRSTRLEN] = "127.0.0.1";
    struct ifaddrs *ifs = NULL, *i;
    if (getifaddrs(&ifs) == 0)
        for (i = ifs; i; i = i->ifa_next)
            if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
                !(i->ifa_flags & IFF_LOOPBACK) && (i->ifa_flags & IFF_UP)) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, ip,
                          sizeof ip);
                break;
            }
    freeifaddrs(ifs);
    snprintf(out, n, "%s:%d", ip, port);
}

/* The NATS transport as this node's identity: credentials from files or the environment,
 * never from the command line (docs/security.md). */
static int open_nats(node_args *a, const char *name, vd_transport **tr, vd_error *err)
{
    int rc = vd_cli_nats_resolve(&a->nc, name, err);
    if (!rc) rc = vd_transport_nats_open(&a->nc.o, tr, err);
    return rc;
}

/* The batch part of a cloud that started without its broker, once the broker is up: its
 * /videos routes (made in routes[*nr..]) join the running server's.
 * VD_ECONN: not yet (tried again later); another error: the routes could not be added. */
static int start_batch_late(const char *role, node_args *a, vd_http_server *srv,
                            vd_http_route *routes, int *nr, vd_error *err)
{
    int n = *nr;
    int rc = vd_batch_cli_start(&a->batch, &a->nc.o, 1, routes, 128, &n, err);
    if (rc) {
        if (rc != VD_ECONN)
            fprintf(stderr, "vdag %s: batch uploads (/videos): %s\n", role, err->msg);
        return VD_ECONN;
    }
    if ((rc = vd_http_server_add_routes(srv, routes + *nr, n - *nr, err))) return rc;
    *nr = n;
    fprintf(stderr, "vdag %s: batch uploads (/videos) started\n", role);
    return 0;
}

/* Start the roles, serve until SIGINT/SIGTERM, shut down in order. */
static int serve_roles(const char *role, node_args *a)
{
    int want_cloud = !strcmp(role, "run") || !strcmp(role, "cloud");
    int want_edge = !strcmp(role, "run") || !strcmp(role, "edge");
    if (want_edge && a->n_videos == 0 && input_videos(role, a) == 0)
        fprintf(stderr,
                "vdag %s: note: no --video ID=PATH given and no ./input/ videos; this edge has "
                "no video\n",
                role);
    char host[256];
    int port;
    vd_error err = {0};
    if (vd_parse_hostport(a->listen, host, sizeof host, &port, &err)) {
        fprintf(stderr, "vdag %s: --listen %s\n", role, err.msg);
        return 2;
    }
    /* a cluster node without --nats: the broker on the cloud's machine, port 4222, as the
     * seed's --cloud_ip defaults to 127.0.0.1; the cloud starts one there when none runs */
    vd_nats_server *own_nats = NULL;
    if (strcmp(role, "run") && !a->nats) {
        a->nats = a->nc.url = "nats://127.0.0.1:4222";
        fprintf(stderr, "vdag %s: no --nats URL: using %s\n", role, a->nats);
        if (want_cloud && !port_open("127.0.0.1", 4222)) {
            const char *nh = !strcmp(host, "0.0.0.0") || !*host ? "0.0.0.0" : host;
            vd_nats_server_opts no = {.host = nh, .port = 4222, .log_to_stderr = 0};
            if (vd_nats_server_start(&no, &own_nats, &err)) {
                fprintf(stderr, "vdag %s: no NATS server on 127.0.0.1:4222 and none started: %s\n",
                        role, err.msg);
                return 1;
            }
            fprintf(stderr,
                    "vdag %s: started a NATS server on %s:4222 for this cluster (edges: "
                    "--cloud_ip=<this machine> or --nats nats://<this machine>:4222; log %s)\n",
                    role, nh, vd_nats_server_log(own_nats));
        }
    }
    char adv_host[256], adv[300];
    int adv_port;
    if (a->advertise &&
        vd_parse_hostport(a->advertise, adv_host, sizeof adv_host, &adv_port, &err)) {
        fprintf(stderr, "vdag %s: --advertise %s\n", role, err.msg);
        return 2;
    }
    advertised(a, host, port, adv, sizeof adv);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits it; main waits below */
    signal(SIGPIPE, SIG_IGN);

    vd_transport *tr = NULL;
    vd_svchost *host_e = NULL, *host_c = NULL;
    vd_edge *edge = NULL;
    vd_cloud *cloud = NULL;
    vd_http_server *srv = NULL;
    vd_http_route routes[128]; /* the server copies them; their args live until it stops */
    int status = 1, nr = 0, rc, batch_later = 0;
    char nodename[64];
    snprintf(nodename, sizeof nodename, "%s",
             a->name                  ? a->name
             : !strcmp(role, "cloud") ? "cloud"
                                      : "edge");
    char nats_red[512] = "";
    if (a->nats) {
        rc = open_nats(a, nodename, &tr, &err);
        vd_nats_url_redact(a->nats, nats_red, sizeof nats_red);
    } else {
        rc = vd_transport_inproc_new(&tr, &err);
    }
    if (rc) goto out;
    /* a node name is one node: a second one of the same name would get its commands too */
    /* (on a secured bus a name is an identity, which the server gives its own subjects) */
    int secured = a->nats && (a->nc.o.nkey || a->nc.o.creds || a->nc.o.user);
    if (a->nats && !secured && (rc = vd_node_name_check(tr, nodename, 1000, &err))) {
        if (rc == VD_EALREADY) goto out;
        fprintf(stderr, "vdag %s: note: cannot check that the name '%s' is free yet: %s\n", role,
                nodename, err.msg);
        rc = 0;
    }
    vd_node_opts o = {.addr = adv,
                      .tr = tr,
                      .threads = a->threads,
                      .svc_threads = a->svc_threads,
                      .loop = a->loop,
                      .no_pace = a->no_pace,
                      .replan_s = a->replan,
                      .drop_s = a->drop,
                      .kb_path = a->kb,
                      .profile = a->profile,
                      .secured = secured,
                      .cascade_bus = a->nats != NULL,
                      .n_videos = a->n_videos};
    memcpy(o.videos, a->videos, sizeof o.videos);
    /* the cloud's events to MQTT: credentials from a file or the environment */
    char mq_user[128] = "", mq_pass[256] = "";
    vd_mqtt_opts mq = {.url = a->mqtt, .client_id = a->mqtt_id};
    const char *eu = getenv("VDAG_MQTT_USER"), *ep = getenv("VDAG_MQTT_PASSWORD");
    if (a->mqtt && a->mqtt_user_file &&
        (rc = vd_nats_userfile_read(a->mqtt_user_file, mq_user, sizeof mq_user, mq_pass,
                                    sizeof mq_pass, &err)))
        goto out;
    if (a->mqtt && !a->mqtt_user_file && eu && *eu)
        snprintf(mq_user, sizeof mq_user, "%s", eu),
            snprintf(mq_pass, sizeof mq_pass, "%s", ep ? ep : "");
    mq.user = mq_user[0] ? mq_user : NULL;
    mq.password = mq_user[0] ? mq_pass : NULL;
    o.mqtt = a->mqtt ? &mq : NULL;
    o.mqtt_prefix = a->mqtt_topic;
    o.leave_frames = a->leave_frames;
    if (want_edge) {
        o.name = nodename;
        if ((rc = vd_svchost_start(&o, &host_e, &err)) ||
            (rc = vd_edge_start(&o, host_e, &edge, &err)))
            goto out;
    }
    if (want_cloud) {
        o.name = want_edge ? "cloud" : nodename;
        o.profile = want_edge ? 0 : a->profile; /* one profiler per process */
        rc = vd_svchost_start(&o, &host_c, &err);
        if (!rc) rc = vd_cloud_start(&o, host_c, &cloud, &err);
        explicit_bzero(mq_pass, sizeof mq_pass);
        if (rc) goto out;
        nr += vd_cloud_routes(cloud, routes + nr, 128 - nr);
        rc = vd_batch_cli_start(&a->batch, a->nats ? &a->nc.o : NULL, 1, routes, 128, &nr, &err);
        if (rc == VD_ECONN) { /* no broker yet: /healthz says so; /videos once it is up */
            fprintf(stderr,
                    "vdag %s: batch uploads (/videos) start once the NATS server is reachable: "
                    "%s\n",
                    role, err.msg);
            batch_later = 1, rc = 0;
        }
        if (rc) goto out;
    }
    /* in one process, answer the first request only once the cloud knows the edge */
    for (int i = 0; cloud && edge && i < 200 && !vd_cloud_has_node(cloud, nodename); i++)
        usleep(10000);
    if (edge) nr += vd_edge_routes(edge, routes + nr, 128 - nr);
    nr += vd_svchost_routes(host_e ? host_e : host_c, routes + nr, 128 - nr);
    health hz = {role, a->nats, tr, a->token && a->token[0]};
    routes[nr++] = (vd_http_route){"GET", "/healthz", r_healthz, &hz};
    routes[nr++] = (vd_http_route){"GET", "/metrics", vd_http_metrics, NULL};
    vd_http_route open_routes[4];
    int n_open = want_cloud ? vd_http_static_routes(open_routes, 4) : 0;
    vd_http_opts ho = {.host = host,
                       .port = port,
                       .token = a->token,
                       .max_body = a->max_body,
                       .cors = a->cors,
                       .routes = routes,
                       .n_routes = nr,
                       .open_routes = open_routes,
                       .n_open_routes = n_open > 0 ? n_open : 0};
    if ((rc = vd_http_server_start(&ho, &srv, &err))) goto out;
    fprintf(stderr, "vdag %s: %s%s%s on http://%s:%d (%s transport%s%s)\n", role,
            want_cloud ? "cloud" : "", want_cloud && want_edge ? " + " : "",
            want_edge ? nodename : "", host, vd_http_server_port(srv), tr->ops->name,
            a->nats ? " " : "", nats_red);
    for (int i = 0; i < a->n_videos; i++)
        fprintf(stderr, "  video %s: %s\n", a->videos[i].id, a->videos[i].path);
    int sig = 0;
    char why[300];
    /* say when the broker cannot be reached (at start after 2 s, then every 30 s), is
     * reached, or is lost: a cluster node without it reaches nobody */
    double since = vd_now_ms(), said = 0;
    int was_up = 1, told_down = 0;
    double batch_tried = 0;
    for (;;) {
        struct timespec ts = {0, 200 * 1000000L};
        if ((sig = sigtimedwait(&set, NULL, &ts)) > 0) break;
        if (edge && vd_edge_conflict(edge, why, sizeof why)) break;
        if (!a->nats) continue;
        int up = tr->ops->connected(tr);
        if (up && batch_later && vd_now_ms() - batch_tried >= 2000) {
            batch_tried = vd_now_ms();
            rc = start_batch_late(role, a, srv, routes, &nr, &err);
            if (rc && rc != VD_ECONN) goto out;
            if (!rc) batch_later = 0;
            rc = 0;
        }
        double now = vd_now_ms();
        if (up && told_down) fprintf(stderr, "vdag %s: connected to %s\n", role, a->nats);
        if (up) told_down = 0, was_up = 1;
        if (!up && was_up) since = now, was_up = 0;
        if (!up && now - since >= 2000 && (!told_down || now - said >= 30000)) {
            fprintf(stderr,
                    "vdag %s: not connected to the NATS server at %s for %.0f s: is nats-server "
                    "running there? (retrying; /healthz answers 503 meanwhile)\n",
                    role, a->nats, (now - since) / 1e3);
            told_down = 1, said = now;
        }
    }
    if (sig > 0) {
        fprintf(stderr, "vdag %s: %s, shutting down\n", role,
                sig == SIGINT ? "interrupted" : "terminated");
        status = 0;
    } else {
        fprintf(stderr, "vdag %s: %s; shutting down\n", role, why);
    }
out:
    if (rc) fprintf(stderr, "vdag %s: %s\n", role, err.msg);
    vd_cloud_close_streams(cloud);
    vd_http_server_stop(srv);
    vd_batch_cli_stop(&a->batch);
    vd_cli_nats_clear(&a->nc);
    vd_edge_stop(edge);
    vd_cloud_stop(cloud);
    vd_svchost_stop(host_e);
    vd_svchost_stop(host_c);
    vd_transport_close(tr);
    vd_edge_free(edge);
    vd_cloud_free(cloud);
    vd_svchost_free(host_e);
    vd_svchost_free(host_c);
    vd_nats_server_stop(own_nats);
    return status;
}

int vd_cmd_cloud(int argc, char **argv)
{
    node_args a;
    int rc = parse_node_args(argc, argv, "cloud", &a);
    return rc ? rc : serve_roles("cloud", &a);
}

int vd_cmd_edge(int argc, char **argv)
{
    node_args a;
    int rc = parse_node_args(argc, argv, "edge", &a);
    return rc ? rc : serve_roles("edge", &a);
}

/* `vdag run` without --pipeline/--dag, or with the seed's --side/--mode. */
int vd_cmd_serve(int argc, char **argv)
{
    const char *side = "c", *mode = "pseudo";
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--side=", 7)) side = argv[i] + 7;
        if (!strncmp(argv[i], "--mode=", 7)) mode = argv[i] + 7;
        if (!strcmp(argv[i], "--side") && i + 1 < argc) side = argv[i + 1];
        if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[i + 1];
    }
    const char *role = !strcmp(mode, "pseudo") ? "run" : !strcmp(side, "e") ? "edge" : "cloud";
    if (strcmp(mode, "pseudo") && strcmp(mode, "cluster")) {
        fprintf(stderr, "vdag run: --mode=%s: expected pseudo or cluster\n", mode);
        return 2;
    }
    if (strcmp(side, "c") && strcmp(side, "e")) {
        fprintf(stderr, "vdag run: --side=%s: expected c (cloud) or e (edge)\n", side);
        return 2;
    }
    node_args a;
    int rc = parse_node_args(argc, argv, role, &a);
    return rc ? rc : serve_roles(role, &a);
}

void vd_usage_nats_server(FILE *f)
{
    fprintf(f, "usage: vdag nats-server [--port N (0: any free port)] [--host 127.0.0.1]\n"
               "                        [--max-payload 8MB] [--no-jetstream]\n"
               "                        [--secure DIR [--ids cloud:cloud,edge:e1,...]]\n"
               "                        [--store DIR]\n"
               "  --store DIR: config, log and JetStream store in DIR, kept at exit (a server\n"
               "  started again on it has the streams and buckets), not in a temp directory.\n"
               "  --secure DIR: TLS (clients verified) and an NKey per identity with its\n"
               "  role's permissions, from DIR (made or completed first: CA, certificates,\n"
               "  NAME.nk; nodes use --nats-dir DIR; docs/security.md).\n"
               "  Runs nats-server with a temp config and store; prints its URL on stdout;\n"
               "  SIGINT/SIGTERM stop it and remove the temp directory.\n");
}

/* vdag nats-server [--port N] [--host H] [--max-payload SIZE] [--no-jetstream]
 * [--secure DIR [--ids …]] [--store DIR]: a private server for scripts and tests. Prints its
 * URL on stdout once it accepts connections and runs until SIGINT/SIGTERM (then stops it
 * and removes its temp directory, not a --store); exits 1 if the server dies. Its output
 * goes to stderr. */
int vd_cmd_nats_server(int argc, char **argv)
{
    vd_nats_server_opts o = {.log_to_stderr = 1};
    const char *ids = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-jetstream")) {
            o.no_jetstream = 1;
        } else if (strcmp(a, "--port") && strcmp(a, "--host") && strcmp(a, "--max-payload") &&
                   strcmp(a, "--secure") && strcmp(a, "--ids") && strcmp(a, "--store")) {
            return vd_arg_unknown("nats-server", a, vd_usage_nats_server);
        } else if (!v) {
            return vd_arg_missing("nats-server", a, vd_usage_nats_server);
        } else if (!strcmp(a, "--port")) {
            if (vd_arg_int("nats-server", a, v, 0, 65535, &o.port)) return 2;
            i++;
        } else if (!strcmp(a, "--host")) {
            o.host = v, i++;
        } else if (!strcmp(a, "--max-payload")) {
            o.max_payload = v, i++;
        } else if (!strcmp(a, "--secure")) {
            o.secure_dir = v, i++;
        } else if (!strcmp(a, "--ids")) {
            ids = v, i++;
        } else {
            o.store_dir = v, i++;
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    vd_nats_server *s = NULL;
    vd_error err = {0};
    if (ids && !o.secure_dir) {
        fprintf(stderr, "vdag nats-server: --ids needs --secure DIR\n");
        return 2;
    }
    if (o.secure_dir &&
        vd_nats_secure_init(o.secure_dir, ids ? ids : "cloud:cloud", o.host, &err)) {
        fprintf(stderr, "vdag nats-server: --secure %s: %s\n", o.secure_dir, err.msg);
        return 1;
    }
    if (o.secure_dir)
        fprintf(stderr,
                "vdag nats-server: secured by %s (identities in %s/identities); a node connects "
                "with --nats-dir %s (its NAME.nk, NAME.pem, NAME.key, ca.pem)\n",
                o.secure_dir, o.secure_dir, o.secure_dir);
    if (vd_nats_server_start(&o, &s, &err)) {
        fprintf(stderr, "vdag nats-server: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", vd_nats_server_url(s));
    fflush(stdout);
    int status = 0;
    for (;;) {
        struct timespec ts = {0, 200 * 1000000L};
        if (sigtimedwait(&set, NULL, &ts) > 0) break;
        if (!vd_nats_server_alive(s)) {
            fprintf(stderr, "vdag nats-server: the server exited\n");
            status = 1;
            break;
        }
    }
    vd_nats_server_stop(s);
    return status;
}
