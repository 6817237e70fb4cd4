/*
 * app_int.h -- private to src/app: flag tables and the subcommands.
 */
#ifndef MB_APP_INT_H
#define MB_APP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/config.h"
#include "membudget/err.h"
#include "membudget/webhook.h"

/* A flag: --name VALUE (or --name=VALUE); bool flags take no value but
 * accept --name=true|false. The table is also the --help text. */
struct flag {
    const char *name;
    const char *metavar; /* NULL: boolean */
    const char *def;     /* default shown in --help and stored before parsing */
    const char *help;
    const char **sval; /* string destination */
    bool *bval;        /* bool destination */
    bool append;       /* repeatable: values are joined with "," */
};

/* Parse argv[*i..] against `flags`, leaving positional arguments in
 * pos[*npos]. Returns 0, 1 when --help was printed, or 2 after printing a
 * usage error. */
int flags_parse(const char *cmd, const char *usage, const struct flag *flags, int argc, char **argv,
                char **pos, size_t *npos);
void flags_help(const char *cmd, const char *usage, const struct flag *flags);
/* Append rows (up to their NULL row, or n of them) to the table out of
 * `max` rows (*used so far), keeping it NULL-terminated; a table too small
 * is a programming error (abort). */
void flags_cat(struct flag *out, size_t max, size_t *used, const struct flag *rows, size_t n);

/* Read a config file (or defaults when path is empty). Prints the error and
 * returns false on failure. */
bool app_load_config(const char *path, struct cfg *out);

/* Read a whole file (or stdin for "-") up to max bytes. Returns a new
 * buffer or NULL with the reason in why. */
char *app_read_file(const char *path, size_t max, size_t *len, char *why, size_t whylen);

/* Parse a duration flag into milliseconds; prints the error. */
bool app_duration_flag(const char *flag, const char *v, uint64_t *ms);
/* A whole number flag in [min, max]; prints the error. */
bool app_uint_flag(const char *flag, const char *v, unsigned long min, unsigned long max,
                   unsigned long *out);
/* A Kubernetes quantity of bytes ("64Mi"), at least 0; prints the error. */
bool app_quantity_flag(const char *flag, const char *v, int64_t *bytes);
/* --metrics-auth: "none" (false) or "kubernetes" (true: the ops endpoints
 * need a bearer token that RBAC allows, opsauth.h). Prints the error. */
bool app_metrics_auth_flag(const char *cmd, const char *v, bool *on);
#define APP_METRICS_AUTH_HELP                                                                      \
    "who may read /metrics and /debug/*: none (anyone who reaches the port), or kubernetes (a "    \
    "bearer token, checked with a TokenReview and a SubjectAccessReview for the path: RBAC "       \
    "decides; /healthz and /readyz stay open)"

struct kcfg;
/* Find and load the API server connection, as controller-runtime does:
 * --kubeconfig, else $KUBECONFIG (its first path), else in-cluster, else
 * ~/.kube/config. Prints the error and returns false on failure. */
bool app_kube_config(const char *kubeconfig, const char *context, struct kcfg *out);

/* membudget's own namespace, never governed (docs/design.md), the one answer the
 * webhook and the controller both use: in-cluster the service account's
 * (kc, or the service account's namespace file when kc is NULL), else
 * $POD_NAMESPACE (the Downward API), else APP_DEFAULT_NAMESPACE, the
 * namespace deploy/ installs into and its webhook configurations exclude. */
#define APP_DEFAULT_NAMESPACE "membudget"
void app_own_namespace(const struct kcfg *kc, char *out, size_t len);

struct kapi_conf;
/* The API client's settings from kc (borrowed strings). Logs a warning when
 * a bearer token would go over plain http://. */
void app_kapi_conf(const struct kcfg *kc, const char *user_agent, struct kapi_conf *out);

/* kc's server URL for a log line: user:password@ replaced. */
void app_server_for_log(const struct kcfg *kc, char *out, size_t len);

struct mx;
/* The process's metrics registry, with membudget_build_info set and one log
 * line when a family first reaches `max_series`. Returns: new (mx_free). */
struct mx *app_metrics_new(size_t max_series);

/* The graceful shutdown shared by webhook, controller and run (drain.c).
 * Fill in the first fields, then app_drain_init() on the main thread before
 * the loops run; app_drain_cleanup() after they stopped. */
enum drain_phase { DRAIN_RUNNING, DRAIN_WEBHOOK, DRAIN_CONTROLLER, DRAIN_DONE };
struct app_drain {
    struct loop *main; /* signals, ops, this drain */
    const struct mb_clock *clk;
    struct ops *ops;
    struct webhook *wh;     /* NULL: no webhook in this process */
    struct loop *ctl_lp;    /* the controller's loop (its thread) */
    struct controller *ctl; /* NULL: no controller in this process */
    struct leader *le;      /* NULL without leader election */
    uint64_t grace_ms;
    /* private to drain.c; the main thread only: */
    enum drain_phase phase;
    mb_mono_ms deadline;
    struct event *tick, *ctl_tick;
    /* the controller's thread only: */
    bool ctl_stopping, ctl_releasing;
    size_t cut;
};
mb_err app_drain_init(struct app_drain *d, struct mb_diag *diag);
void app_drain_cleanup(struct app_drain *d);
void app_drain_done(void *arg); /* main loop: stop it */

/* Webhook workers to start by default: the CPUs this process may use (its
 * affinity mask, lowered to the cgroup's CPU quota when one is set), >= 1. */
unsigned app_default_workers(void);

/* The webhook's flags, shared by `webhook` and `run` (webhook_wiring.c):
 * app_webhook_flags() writes their rows (pointing into o) for a flag
 * table; after parsing, app_webhook_check() checks them (printing the
 * error) and fills o->wc; app_webhook_start() creates the webhook on the
 * main loop with the config, membudget's namespace and the LimitRange
 * watch (NULL: unknown). */
#define APP_WEBHOOK_NFLAGS 10
struct app_webhook_opts {
    const char *cert, *key, *reload, *bind, *idle, *reqto, *maxconns, *maxbuf, *maxparse, *workers;
    struct webhook_conf wc;
};
struct lrwatch;
void app_webhook_flags(struct app_webhook_opts *o, struct flag rows[APP_WEBHOOK_NFLAGS]);
bool app_webhook_check(const char *cmd, struct app_webhook_opts *o);
mb_err app_webhook_start(struct app_webhook_opts *o, struct loop *lp, const struct cfg *cfg,
                         const char *own_ns, struct lrwatch *lrw, struct mx *mx, struct ops *ops,
                         struct webhook **out, struct mb_diag *diag);

int cmd_webhook(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_profiles(int argc, char **argv);
/* cmd_status.c: `profiles list` from a controller's /debug/profiles */
int profiles_list_controller(int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
