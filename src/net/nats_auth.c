/*
 * Who a NATS connection is and how it is protected: credentials (a .creds file, an NKey seed
 * file, a user and password) and TLS (the CA to verify the server, a client certificate),
 * set on nats.c's options; URLs redacted for messages; user/password files; NKeys (ed25519
 * keys in NATS's text form: base32 of a prefix byte, the key and a CRC16), derived and made
 * with libcrypto; the server's refusals as nats.c reports them (recorded by subject; a call
 * waiting on a refused subject is ended). No secret is ever copied into a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "nats_internal.h"
#include "vdag/base.h"
#include "vdag/nats_conn.h"
#include "vdag/net.h"

/* ---- URLs and user files -------------------------------------------------------------- */

void vd_nats_url_redact(const char *url, char *out, size_t cap)
{
    if (!cap) return;
    size_t o = 0;
    const char *s = url ? url : "";
    while (*s && o + 1 < cap) {
        /* one URL of a comma-separated list: "scheme://[user[:pass]@]host…" */
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *at = memchr(s, '@', n);
        const char *sch = strstr(s, "://");
        const char *cred = sch && sch < s + n ? sch + 3 : s;
        if (at && at > cred) {
            const char *colon = memchr(cred, ':', (size_t)(at - cred));
            /* user:pass@ keeps the user; a lone token@ is all secret */
            size_t keep = colon ? (size_t)(colon - s) : (size_t)(cred - s);
            int w = snprintf(out + o, cap - o, "%.*s%s%.*s", (int)keep, s, colon ? ":***" : "***",
                             (int)(n - (size_t)(at - s)), at);
            o += w < 0 ? 0 : (size_t)w;
        } else {
            int w = snprintf(out + o, cap - o, "%.*s", (int)n, s);
            o += w < 0 ? 0 : (size_t)w;
        }
        if (o >= cap) o = cap - 1;
        if (!end) break;
        if (o + 1 < cap) out[o++] = ',';
        s = end + 1;
    }
    out[o < cap ? o : cap - 1] = 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

int vd_nats_userfile_read(const char *path, char *user, size_t ucap, char *password, size_t pcap,
                          vd_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return vd_fail(err, VD_EIO, "NATS user file %s: %s: it holds one line USER:PASSWORD", path,
                       strerror(errno));
    char l1[512] = "", l2[512] = "";
    int ok = fgets(l1, sizeof l1, f) != NULL;
    if (ok && !fgets(l2, sizeof l2, f)) l2[0] = 0;
    fclose(f);
    chomp(l1), chomp(l2);
    char *colon = strchr(l1, ':');
    const char *u = l1, *pw = colon ? colon + 1 : l2;
    if (colon) *colon = 0;
    int rc = 0;
    if (!ok || !*u || !*pw || strlen(u) >= ucap || strlen(pw) >= pcap)
        rc = vd_fail(err, VD_EFORMAT,
                     "NATS user file %s: expected one line USER:PASSWORD (or the user, then the "
                     "password on the next line)",
                     path);
    else
        snprintf(user, ucap, "%s", u), snprintf(password, pcap, "%s", pw);
    explicit_bzero(l1, sizeof l1);
    explicit_bzero(l2, sizeof l2);
    return rc;
}

/* ---- NKeys ---------------------------------------------------------------------------- */

#define NK_PREFIX_SEED 144 /* 18 << 3: 'S' */
#define NK_PREFIX_USER 160 /* 20 << 3: 'U' */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const unsigned char *d, size_t n) /* CRC-16/XMODEM, as nkeys */
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int k = 0; k < 8; k++) crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : crc << 1;
    }
    return crc;
}

static int b32_encode(const unsigned char *d, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    unsigned buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = buf << 8 | d[i];
        bits += 8;
        while (bits >= 5) {
            if (o + 1 >= cap) return -1;
            out[o++] = b32[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) {
        if (o + 1 >= cap) return -1;
        out[o++] = b32[(buf << (5 - bits)) & 31];
    }
    out[o] = 0;
    return (int)o;
}

static int b32_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t o = 0;
    unsigned buf = 0;
    int bits = 0;
    for (; *s; s++) {
        const char *q = strchr(b32, *s);
        if (!q || !*s) return -1;
        buf = buf << 5 | (unsigned)(q - b32);
        bits += 5;
        if (bits >= 8) {
            if (o >= cap) return -1;
            out[o++] = (unsigned char)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return (int)o;
}

/* The 32-byte ed25519 seed of a user seed "SU…". */
static int seed_raw(const char *seed, unsigned char raw[32])
{
    unsigned char d[64];
    int n = b32_decode(seed, d, sizeof d);
    int ok = n == 36 && (d[0] & 248) == NK_PREFIX_SEED &&
             ((d[0] & 7) << 5 | (d[1] & 248) >> 3) == NK_PREFIX_USER &&
             crc16(d, 34) == (uint16_t)(d[34] | d[35] << 8);
    if (ok) memcpy(raw, d + 2, 32);
    explicit_bzero(d, sizeof d);
    return ok ? 0 : VD_EFORMAT;
}

static int encode_public(const unsigned char key[32], char *pub, size_t cap)
{
    unsigned char d[35];
    d[0] = NK_PREFIX_USER;
    memcpy(d + 1, key, 32);
    uint16_t c = crc16(d, 33);
    d[33] = (unsigned char)(c & 0xff), d[34] = (unsigned char)(c >> 8);
    return b32_encode(d, sizeof d, pub, cap) == 56 ? 0 : VD_EINVAL;
}

static int public_of_raw(const unsigned char raw[32], char *pub, size_t cap)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
    unsigned char key[32];
    size_t kl = sizeof key;
    int ok = k && EVP_PKEY_get_raw_public_key(k, key, &kl) == 1 && kl == 32;
    EVP_PKEY_free(k);
    return ok ? encode_public(key, pub, cap) : VD_EBACKEND;
}

int vd__nkey_public(const char *seed, char *pub, size_t cap)
{
    unsigned char raw[32];
    int rc = seed_raw(seed, raw);
    if (!rc) rc = public_of_raw(raw, pub, cap);
    explicit_bzero(raw, sizeof raw);
    return rc;
}

/* Does nats.c accept this seed? It signs the server's nonce with it at every connect. */
static int nats_takes(const char *seed)
{
    unsigned char *sig = NULL;
    int len = 0;
    natsStatus s = nats_Sign(seed, "vdag", &sig, &len);
    free(sig);
    return s == NATS_OK && len == 64;
}

static int nkey_draw(char *seed, size_t scap, char *pub, size_t pcap)
{
    unsigned char d[36];
    d[0] = NK_PREFIX_SEED | NK_PREFIX_USER >> 5;
    d[1] = (NK_PREFIX_USER & 31) << 3;
    if (getrandom(d + 2, 32, 0) != 32) return VD_EBACKEND;
    uint16_t c = crc16(d, 34);
    d[34] = (unsigned char)(c & 0xff), d[35] = (unsigned char)(c >> 8);
    int rc = b32_encode(d, sizeof d, seed, scap) == 58 ? 0 : VD_EINVAL;
    if (!rc) rc = public_of_raw(d + 2, pub, pcap);
    explicit_bzero(d, sizeof d);
    return rc;
}

int vd__nkey_generate(char *seed, size_t scap, char *pub, size_t pcap)
{
    /* nats.c 3.4.1 refuses a few seeds in 100,000 whose prefix and CRC16 are right
     * ("invalid seed" from its nkeys.c; 1 in 100,000 draws here): a node given such a key
     * could never connect, so such a draw is thrown away. */
    for (int tries = 0; tries < 8; tries++) {
        int rc = nkey_draw(seed, scap, pub, pcap);
        if (rc || nats_takes(seed)) return rc;
        explicit_bzero(seed, scap);
    }
    return VD_EBACKEND;
}

int vd__nkey_read_seed(const char *path, char *seed, size_t cap, vd_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return vd_fail(err, VD_EIO, "NKey seed file %s: %s", path, strerror(errno));
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        chomp(s);
        if (s[0] == 'S' && s[1] == 'U' && strlen(s) < cap) {
            snprintf(seed, cap, "%s", s);
            found = 1;
        }
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!found)
        return vd_fail(err, VD_EFORMAT,
                       "NKey seed file %s: no user seed (a line starting with SU): make one "
                       "with 'vdag nats-server --secure DIR' or 'nk -gen user'",
                       path);
    return 0;
}

/* ---- the server's refusals ------------------------------------------------------------- */

/* "Permissions Violation for Publish to "a.b"" (or "Subscription to "a.b" using queue …"):
 * the kind and the subject. 0 when text is not one. */
int vd__nt_parse_violation(const char *text, int *publish, char *subj, size_t cap)
{
    const char *k = NULL;
    if ((k = strstr(text, "Publish to ")))
        *publish = 1, k += strlen("Publish to ");
    else if ((k = strstr(text, "Subscription to ")))
        *publish = 0, k += strlen("Subscription to ");
    else
        return 0;
    while (*k == ' ' || *k == '"' || *k == '\'') k++;
    size_t n = 0;
    while (k[n] && k[n] != '"' && k[n] != '\'' && k[n] != ' ' && n + 1 < cap) n++;
    memcpy(subj, k, n);
    subj[n] = 0;
    return n > 0;
}

int vd__nt_denied(nt *p, const char *subject, int publish, char *text, size_t cap)
{
    int found = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_denials && !found; i++) {
        nt_denial *d = &p->denials[i];
        if (d->publish == publish && !strcmp(d->subject, subject) &&
            vd_now_ms() - d->at < NT_DENIAL_MS) {
            if (text) snprintf(text, cap, "%s", d->text);
            found = 1;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

int vd__nt_denied_prefix(nt *p, const char *prefix, char *text, size_t cap)
{
    int found = 0;
    size_t n = strlen(prefix);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_denials && !found; i++) {
        nt_denial *d = &p->denials[i];
        if (d->publish && !strncmp(d->subject, prefix, n) && vd_now_ms() - d->at < NT_DENIAL_MS) {
            if (text) snprintf(text, cap, "%s", d->text);
            found = 1;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

/* nats.c's asynchronous errors (its callback thread): a refused publish or subscription
 * (recorded; the calls waiting on that subject end at once), refused credentials. */
void vd__nt_on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
    (void)nc, (void)sub;
    nt *p = closure;
    natsStatus ls;
    const char *t = nats_GetLastError(&ls);
    char text[256];
    snprintf(text, sizeof text, "%s", t && *t ? t : natsStatus_GetText(s));
    if (s == NATS_CONNECTION_AUTH_FAILED) {
        pthread_mutex_lock(&p->mu);
        int first = !p->auth_err[0];
        snprintf(p->auth_err, sizeof p->auth_err, "%s", text);
        pthread_mutex_unlock(&p->mu);
        if (first)
            fprintf(stderr,
                    "vdag %s: the NATS server at %s refused this identity's credentials (%s): "
                    "check --nats-creds / --nats-nkey / the user and password\n",
                    p->name, p->url, text);
        return;
    }
    int publish;
    char subj[256];
    if (s != NATS_NOT_PERMITTED || !vd__nt_parse_violation(text, &publish, subj, sizeof subj))
        return;
    pthread_mutex_lock(&p->mu);
    nt_denial *d = NULL;
    for (int i = 0; i < p->n_denials && !d; i++)
        if (p->denials[i].publish == publish && !strcmp(p->denials[i].subject, subj))
            d = &p->denials[i];
    int known = d != NULL;
    if (!d) {
        d = &p->denials[p->next_denial];
        p->next_denial = (p->next_denial + 1) % NT_DENIALS;
        if (p->n_denials < NT_DENIALS) p->n_denials++;
        snprintf(d->subject, sizeof d->subject, "%s", subj);
        snprintf(d->text, sizeof d->text, "%s", text);
        d->publish = publish;
    }
    d->at = vd_now_ms();
    for (nt_pending *c = p->pending; publish && c; c = c->next)
        if (!c->denied && !strcmp(c->subject, subj)) {
            c->denied = 1;
            natsSubscription_Unsubscribe(c->sub); /* wakes its NextMsg */
        }
    pthread_mutex_unlock(&p->mu);
    if (!known)
        fprintf(stderr,
                "vdag %s: the NATS server refused %s '%s' to this identity (%s): see the "
                "server's permissions (docs/security.md)\n",
                p->name, publish ? "publishing on" : "subscribing to", subj, text);
}

/* ---- nats.c options ------------------------------------------------------------------- */

static int readable(const char *what, const char *path, vd_error *err)
{
    if (access(path, R_OK) == 0) return 0;
    return vd_fail(err, VD_EIO, "NATS %s %s: %s", what, path, strerror(errno));
}

int vd__nt_auth_opts(natsOptions *opts, const vd_nats_opts *o, vd_error *err)
{
    int kinds = !!o->creds + !!o->nkey + !!(o->user || o->password);
    if (kinds > 1)
        return vd_fail(err, VD_EINVAL,
                       "NATS: give one kind of credentials: a .creds file, an NKey seed file, or "
                       "a user and password");
    natsStatus s = NATS_OK;
    int rc = 0;
    if (o->creds) {
        if ((rc = readable("credentials file", o->creds, err))) return rc;
        s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds, NULL);
    } else if (o->nkey) {
        char seed[128], pub[64];
        if ((rc = vd__nkey_read_seed(o->nkey, seed, sizeof seed, err))) return rc;
        rc = vd__nkey_public(seed, pub, sizeof pub);
        explicit_bzero(seed, sizeof seed);
        if (rc)
            return vd_fail(err, VD_EFORMAT, "NKey seed file %s: not a valid user seed (%s)",
                           o->nkey, vd_strerror(rc));
        s = natsOptions_SetNKeyFromSeed(opts, pub, o->nkey);
    } else if (o->user || o->password) {
        if (!o->user || !*o->user)
            return vd_fail(err, VD_EINVAL, "NATS: a password without a user name");
        s = natsOptions_SetUserInfo(opts, o->user, o->password ? o->password : "");
    }
    if (s != NATS_OK) return vd_fail(err, vd__nt_code(s), "NATS credentials: %s", vd__nt_text(s));
    int tls = o->tls_ca || o->tls_cert || o->tls_key || !strncmp(o->url, "tls://", 6);
    if (!tls) return 0;
    if (!!o->tls_cert != !!o->tls_key)
        return vd_fail(err, VD_EINVAL,
                       "NATS TLS: a client certificate needs its key and the key its certificate "
                       "(--nats-tls-cert and --nats-tls-key)");
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && o->tls_ca) {
        if ((rc = readable("TLS CA file", o->tls_ca, err))) return rc;
        s = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
        if (s != NATS_OK)
            return vd_fail(err, VD_EAUTH, "NATS TLS: CA file %s: %s", o->tls_ca, vd__nt_text(s));
    }
    if (s == NATS_OK && o->tls_cert) {
        if ((rc = readable("TLS certificate", o->tls_cert, err)) ||
            (rc = readable("TLS key", o->tls_key, err)))
            return rc;
        s = natsOptions_LoadCertificatesChain(opts, o->tls_cert, o->tls_key);
        if (s != NATS_OK)
            return vd_fail(err, VD_EAUTH, "NATS TLS: certificate %s / key %s: %s", o->tls_cert,
                           o->tls_key, vd__nt_text(s));
    }
    if (s != NATS_OK) return vd_fail(err, vd__nt_code(s), "NATS TLS: %s", vd__nt_text(s));
    return 0;
}

char *vd__nt_inbox_of(const char *name)
{
    char *s = malloc(strlen(name) + 8);
    if (!s) return NULL;
    char *q = s + sprintf(s, "_INBOX.");
    for (const char *c = name; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '_' || *c == '-';
        *q++ = ok ? *c : '_';
    }
    *q = 0;
    return s;
}

int vd_nats_code(natsStatus s)
{
    return vd__nt_code(s);
}

int vd_nats_options_new(const vd_nats_opts *o, natsOptions **out, vd_error *err)
{
    *out = NULL;
    if (!o || !o->url || !*o->url)
        return vd_fail(err, VD_EINVAL, "NATS: no server URL (e.g. nats://127.0.0.1:4222)");
    const char *name = o->name && *o->name ? o->name : "vdag";
    char *inbox = vd__nt_inbox_of(name);
    natsOptions *opts = NULL;
    natsStatus s = inbox ? natsOptions_Create(&opts) : NATS_NO_MEMORY;
    if (s == NATS_OK) s = natsOptions_SetURL(opts, o->url);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetCustomInboxPrefix(opts, inbox);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, true);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000);
    free(inbox);
    int rc = s == NATS_OK ? vd__nt_auth_opts(opts, o, err)
                          : vd_fail(err, vd__nt_code(s), "NATS options: %s", vd__nt_text(s));
    if (rc) {
        natsOptions_Destroy(opts);
        return rc;
    }
    *out = opts;
    return 0;
}
