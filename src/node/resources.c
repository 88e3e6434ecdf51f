/*
 * Resource monitor: machine CPU from /proc/stat (busy/total jiffies between samples; with
 * vd_resources_cpu_own, this process's CPU over the cores it may run on instead),
 * memory from /proc/meminfo (MemTotal - MemAvailable), this process's CPU and RSS from
 * /proc/self/stat and /proc/self/status. O(1) per sample; no state beyond the struct.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vdag/base.h"
#include "vdag/node.h"

static int cpu_own; /* vd_resources_cpu_own: set once at start-up */

void vd_resources_cpu_own(int own)
{
    __atomic_store_n(&cpu_own, own, __ATOMIC_RELEASE);
}

int vd_resources_sample(vd_resources *r, vd_error *err)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return vd_fail(err, VD_EIO, "/proc/stat: cannot read (is /proc mounted?)");
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 4) return vd_fail(err, VD_EFORMAT, "/proc/stat: unexpected format");
    unsigned long long total = 0;
    for (int i = 0; i < 8; i++) total += v[i]; /* guest time is already in user */
    unsigned long long idle = v[3] + v[4];
    unsigned long long busy = total - idle;
    if (total > r->prev_total_) {
        r->cpu_pct = 100.0 * (double)(busy - r->prev_busy_) / (double)(total - r->prev_total_);
        if (r->cpu_pct < 0) r->cpu_pct = 0;
    }
    r->prev_busy_ = busy;
    r->prev_total_ = total;
    r->n_cores = (int)sysconf(_SC_NPROCESSORS_ONLN);

    f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        double tot = 0, avail = -1;
        while (fgets(line, sizeof line, f)) {
            unsigned long long kb;
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) tot = (double)kb / 1024;
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) avail = (double)kb / 1024;
        }
        fclose(f);
        if (tot > 0 && avail >= 0) {
            r->mem_total_mb = tot;
            r->mem_used_mb = tot - avail;
            r->mem_pct = 100.0 * r->mem_used_mb / tot;
        }
    }

    f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')'); /* comm may contain spaces */
        unsigned long long ut = 0, st = 0;
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2) {
            double now = vd_now_ms() / 1e3;
            long hz = sysconf(_SC_CLK_TCK);
            unsigned long long ticks = ut + st;
            if (r->prev_t_ > 0 && now > r->prev_t_ && hz > 0)
                r->proc_cpu_pct =
                    100.0 * (double)(ticks - r->prev_proc_) / (double)hz / (now - r->prev_t_);
            r->prev_proc_ = ticks;
            r->prev_t_ = now;
        }
    }
    if (__atomic_load_n(&cpu_own, __ATOMIC_ACQUIRE)) { /* this process on its own cores */
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : r->n_cores;
        r->n_cores = n > 0 ? n : 1;
        r->cpu_pct = r->proc_cpu_pct / r->n_cores;
        if (r->cpu_pct > 100) r->cpu_pct = 100;
    }
    f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) r->proc_rss_mb = (double)kb / 1024;
        fclose(f);
    }
    return 0;
}

json_t *vd_resources_json(const vd_resources *r)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "cpu_ratio", r->cpu_pct / 100, "mem_ratio",
                     r->mem_pct / 100, "mem_total_mb", r->mem_total_mb, "mem_used_mb",
                     r->mem_used_mb, "proc_cpu_pct", r->proc_cpu_pct, "proc_rss_mb", r->proc_rss_mb,
                     "n_cores", r->n_cores);
}
