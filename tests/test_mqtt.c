/*
 * The MQTT publisher (vd_mqtt, src/net/mqtt.c) against a real mosquitto broker started here
 * on a free 127.0.0.1 port with a temp config (no persistence): URL parsing; messages queued
 * while the broker is down (bounded: the oldest dropped and counted) and sent once it is up
 * (the client connects by itself); "online"/"offline" on the availability topic; the broker killed
 * and restarted: the client reconnects, the retained state comes back (republished) and new
 * messages flow. A libmosquitto subscriber in the test reads what the broker delivers.
 */
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "vdag/base.h"
#include "vdag/net.h"

/* ---- a broker ------------------------------------------------------------------------- */

static char dir[256], conf[300];
static int port;
static pid_t broker = -1;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int broker_start(void)
{
    broker = fork();
    if (broker == 0) {
        char log[300];
        snprintf(log, sizeof log, "%s/broker.log", dir);
        if (!freopen(log, "a", stderr) || !freopen(log, "a", stdout)) _exit(126);
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        execlp("mosquitto", "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* 10 s */
        if (port_open()) return 0;
        if (waitpid(broker, NULL, WNOHANG) == broker) break;
        usleep(100000);
    }
    fprintf(stderr, "mosquitto did not start (apt-get install mosquitto); see %s/broker.log\n",
            dir);
    return -1;
}

static void broker_kill(void)
{
    if (broker > 0) kill(broker, SIGKILL), waitpid(broker, NULL, 0);
    broker = -1;
}

/* ---- a subscriber --------------------------------------------------------------------- */

typedef struct got {
    pthread_mutex_t mu;
    int n;
    char topic[512][64];
    char payload[512][64];
    int retained[512];
} got;

static void on_msg(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    got *g = arg;
    (void)m;
    pthread_mutex_lock(&g->mu);
    if (g->n < 512) {
        snprintf(g->topic[g->n], 64, "%s", msg->topic);
        snprintf(g->payload[g->n], 64, "%.*s", msg->payloadlen, (const char *)msg->payload);
        g->retained[g->n++] = msg->retain;
    }
    pthread_mutex_unlock(&g->mu);
}

static void on_conn(struct mosquitto *m, void *arg, int rc)
{
    (void)arg;
    if (!rc) mosquitto_subscribe(m, NULL, "#", 1);
}

static struct mosquitto *sub_start(got *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    struct mosquitto *m = mosquitto_new(NULL, true, g);
    mosquitto_message_callback_set(m, on_msg);
    mosquitto_connect_callback_set(m, on_conn);
    mosquitto_connect(m, "127.0.0.1", port, 10);
    mosquitto_loop_start(m);
    return m;
}

static void sub_stop(struct mosquitto *m, got *g)
{
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    pthread_mutex_destroy(&g->mu);
}

/* The index of the last message on topic (with payload, if not NULL), or -1. */
static int find(got *g, const char *topic, const char *payload)
{
    pthread_mutex_lock(&g->mu);
    int k = -1;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->topic[i], topic) && (!payload || !strcmp(g->payload[i], payload))) k = i;
    pthread_mutex_unlock(&g->mu);
    return k;
}

/* Wait (at most 10 s) for a message on topic (with payload). */
static int wait_for(got *g, const char *topic, const char *payload)
{
    for (int i = 0; i < 200; i++) {
        int k = find(g, topic, payload);
        if (k >= 0) return k;
        usleep(50000);
    }
    return -1;
}

static int wait_connected(vd_mqtt *m, int want)
{
    vd_mqtt_stats s;
    for (int i = 0; i < 200; i++) {
        vd_mqtt_stats_get(m, &s);
        if (s.connected == want) return 1;
        usleep(50000);
    }
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_url(void)
{
    char h[64], u[32], p[32];
    int port_ = 0;
    vd_error err = {0};
    CHECK(vd_mqtt_url_parse("mqtt://broker:1884", h, sizeof h, &port_, u, sizeof u, p, sizeof p,
                            &err) == 0 &&
          !strcmp(h, "broker") && port_ == 1884 && !u[0] && !p[0]);
    CHECK(vd_mqtt_url_parse("mqtt://ha:s3cret@10.0.0.2", h, sizeof h, &port_, u, sizeof u, p,
                            sizeof p, &err) == 0 &&
          !strcmp(h, "10.0.0.2") && port_ == 1883 && !strcmp(u, "ha") && !strcmp(p, "s3cret"));
    CHECK(vd_mqtt_url_parse("tcp://[::1]:1999/", h, sizeof h, &port_, u, sizeof u, p, sizeof p,
                            &err) == 0 &&
          !strcmp(h, "::1") && port_ == 1999);
    CHECK(vd_mqtt_url_parse("localhost", h, sizeof h, &port_, u, sizeof u, p, sizeof p, &err) ==
              0 &&
          !strcmp(h, "localhost"));
    CHECK(vd_mqtt_url_parse("mqtts://b:8883", h, sizeof h, &port_, u, sizeof u, p, sizeof p,
                            &err) == VD_EUNSUPP);
    const char *bad[] = {"mqtt://",    "mqtt://h:0",  "mqtt://h:70000",
                         "mqtt://h:x", "http://h",    "mqtt://h/topic",
                         "mqtt://@h",  "mqtt://[::1", "mqtt://u:pw@:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = vd_mqtt_url_parse(bad[i], h, sizeof h, &port_, u, sizeof u, p, sizeof p, &err);
        CHECKF(rc == VD_EINVAL && !strstr(err.msg, "pw"), "%s: %d %s", bad[i], rc, err.msg);
    }
    vd_mqtt *m = NULL;
    vd_mqtt_opts o = {.url = "mqtt://h:x"};
    CHECK(vd_mqtt_open(&o, &m, &err) == VD_EINVAL && !m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    test_url();
    snprintf(dir, sizeof dir, "%s/vdag-mqtt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    port = free_port();
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
    fclose(f);
    char url[64];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", port);
    vd_error err = {0};

    /* nobody there and nothing sent: a close ends the retries */
    vd_mqtt *dead = NULL;
    vd_mqtt_opts od = {.url = url, .will_topic = "t/available"};
    CHECK(vd_mqtt_open(&od, &dead, &err) == 0 && dead);
    vd_mqtt_publish(dead, "t/x", "1", 1, 0);
    vd_mqtt_close(dead);

    /* the broker down: messages wait, the oldest beyond max_queue are dropped */
    vd_mqtt *m = NULL;
    vd_mqtt_opts o = {
        .url = url, .client_id = "vdag-test", .will_topic = "t/available", .max_queue = 10};
    CHECK(vd_mqtt_open(&o, &m, &err) == 0 && m);
    if (!m) return vt_finish();
    char topic[32], pay[16];
    int busy = 0;
    for (int i = 0; i < 25; i++) {
        snprintf(topic, sizeof topic, "t/q%d", i);
        snprintf(pay, sizeof pay, "%d", i);
        busy += vd_mqtt_publish(m, topic, pay, strlen(pay), 0) == VD_EBUSY;
    }
    CHECK(vd_mqtt_publish(m, "t/+", "x", 1, 0) == VD_EINVAL);
    CHECK(vd_mqtt_publish(m, "", "x", 1, 0) == VD_EINVAL);
    vd_mqtt_stats s;
    vd_mqtt_stats_get(m, &s);
    CHECKF(s.queued == 10 && s.dropped == 15 && busy == 15 && !s.connected,
           "queued %d dropped %llu busy %d", s.queued, (unsigned long long)s.dropped, busy);
    CHECK(vd_mqtt_flush(m, 100) == VD_ETIMEDOUT);

    /* the broker comes up: the client connects by itself and sends what waited */
    if (broker_start()) return vt_finish();
    CHECK(wait_connected(m, 1));
    CHECK(vd_mqtt_flush(m, 10000) == 0);
    vd_mqtt_stats_get(m, &s);
    CHECKF(s.published == 11 && s.dropped == 15 && s.queued == 0, /* "online" and the 10 */
           "published %llu dropped %llu", (unsigned long long)s.published,
           (unsigned long long)s.dropped);
    got g;
    struct mosquitto *sub = sub_start(&g);
    CHECK(wait_for(&g, "t/available", "online") >= 0); /* retained: a late subscriber has it */
    vd_mqtt_publish(m, "t/live", "1", 1, 0);
    CHECK(wait_for(&g, "t/live", "1") >= 0);
    vd_mqtt_publish(m, "t/count", "3", 1, 1);
    CHECK(wait_for(&g, "t/count", "3") >= 0);
    vd_mqtt_stats_get(m, &s);
    CHECKF(s.published >= 12 && s.queued == 0, "published %llu", (unsigned long long)s.published);
    sub_stop(sub, &g);

    /* killed and restarted (no persistence: the broker forgets the retained state) */
    broker_kill();
    CHECK(wait_connected(m, 0));
    vd_mqtt_publish(m, "t/while_down", "x", 1, 0);
    vd_mqtt_publish(m, "t/count", "4", 1, 1);
    if (broker_start()) return vt_finish();
    CHECK(wait_connected(m, 1));
    CHECK(vd_mqtt_flush(m, 10000) == 0);
    sub = sub_start(&g);
    int k = wait_for(&g, "t/count", "4");
    CHECK(k >= 0 && g.retained[k]); /* republished after the reconnection */
    CHECK(wait_for(&g, "t/available", "online") >= 0);
    vd_mqtt_publish(m, "t/after", "ok", 2, 0);
    CHECK(wait_for(&g, "t/after", "ok") >= 0);

    /* a clean close says offline */
    vd_mqtt_close(m);
    CHECK(wait_for(&g, "t/available", "offline") >= 0);
    sub_stop(sub, &g);
    broker_kill();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
    mosquitto_lib_cleanup();
    return vt_finish();
}
