/*
 * flags.c -- table-driven command-line flags (shell; see app_int.h). One
 * table per command is the parser and the --help text; --name VALUE,
 * --name=VALUE, -name as Go programs accept, repeatable flags joined with
 * ",". The value helpers (durations, whole numbers, quantities,
 * --metrics-auth) print the error naming the flag, so every command says
 * the same thing about the same mistake.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_int.h"
#include "membudget/quantity.h"
#include "membudget/alloc.h"

void flags_help(const char *cmd, const char *usage, const struct flag *flags)
{
    printf("Usage: membudget %s %s\n\nFlags:\n", cmd, usage);
    for (const struct flag *f = flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->metavar ? " " : "",
                 f->metavar ? f->metavar : "");
        printf("  %-34s %s", left, f->help);
        if (f->def && *f->def)
            printf(" (default %s)", f->def);
        printf("\n");
    }
    printf("  %-34s %s\n", "-h, --help", "show this help");
}

void flags_cat(struct flag *out, size_t max, size_t *used, const struct flag *rows, size_t n)
{
    for (size_t i = 0; i < n && rows[i].name; i++) {
        if (*used + 1 >= max) {
            fprintf(stderr, "membudget: a flag table of %zu rows is too small\n", max);
            abort(); /* a programming error, found by any --help */
        }
        out[(*used)++] = rows[i];
    }
    out[*used] = (struct flag){0};
}

/* Defaults are stored first, so every destination holds a value after
 * parsing; an unknown flag is an error naming it (never ignored: a
 * misspelt --dry-run must not run for real). */
int flags_parse(const char *cmd, const char *usage, const struct flag *flags, int argc, char **argv,
                char **pos, size_t *npos)
{
    *npos = 0;
    for (const struct flag *f = flags; f->name; f++) {
        if (f->sval)
            *f->sval = f->def ? f->def : "";
        if (f->bval)
            *f->bval = f->def && !strcmp(f->def, "true");
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *val = NULL;
        const struct flag *f;
        size_t nlen;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            flags_help(cmd, usage, flags);
            return 1;
        }
        if (!strcmp(a, "--")) {
            while (++i < argc)
                pos[(*npos)++] = argv[i];
            break;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            pos[(*npos)++] = argv[i];
            continue;
        }
        a += a[1] == '-' ? 2 : 1; /* accept -flag as Go programs do */
        eq = strchr(a, '=');
        nlen = eq ? (size_t)(eq - a) : strlen(a);
        for (f = flags; f->name; f++)
            if (strlen(f->name) == nlen && !strncmp(f->name, a, nlen))
                break;
        if (!f->name) {
            fprintf(stderr, "membudget %s: unknown flag --%.*s (see membudget %s --help)\n", cmd,
                    (int)nlen, a, cmd);
            return 2;
        }
        if (eq)
            val = eq + 1;
        if (!f->metavar) {
            if (val && strcmp(val, "true") && strcmp(val, "false")) {
                fprintf(stderr, "membudget %s: --%s takes true or false\n", cmd, f->name);
                return 2;
            }
            *f->bval = !val || !strcmp(val, "true");
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "membudget %s: --%s needs a value (%s)\n", cmd, f->name,
                        f->metavar);
                return 2;
            }
            val = argv[++i];
        }
        if (f->append && **f->sval && *f->sval != f->def) {
            /* A repeated list flag: "a,b". The joined values live in a
             * static buffer (flags are parsed once per process). */
            static char joined[4096];
            int n = snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s,%s",
                             joined[0] ? "" : *f->sval, "", val);
            if (n < 0 || strlen(joined) >= sizeof joined - 1) {
                fprintf(stderr, "membudget %s: --%s: too many values\n", cmd, f->name);
                return 2;
            }
            *f->sval = joined;
            continue;
        }
        *f->sval = val;
    }
    return 0;
}

bool app_duration_flag(const char *flag, const char *v, uint64_t *ms)
{
    if (!cfg_parse_duration(v, ms)) {
        fprintf(stderr, "membudget: --%s: \"%s\" is not a duration (e.g. 10s, 500ms)\n", flag, v);
        return false;
    }
    return true;
}

bool app_uint_flag(const char *flag, const char *v, unsigned long min, unsigned long max,
                   unsigned long *out)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (!*v || *end || errno || n < min || n > max || v[0] == '-') {
        fprintf(stderr, "membudget: --%s: \"%s\" is not a number in [%lu, %lu]\n", flag, v, min,
                max);
        return false;
    }
    *out = n;
    return true;
}

bool app_quantity_flag(const char *flag, const char *v, int64_t *bytes)
{
    struct mb_diag d = {0};

    if (qty_parse_str(v, bytes, &d) != MB_OK || *bytes < 0) {
        fprintf(stderr, "membudget: --%s: \"%s\" is not a quantity of bytes (like 64Mi)%s%s\n",
                flag, v, d.msg[0] ? ": " : "", d.msg);
        return false;
    }
    return true;
}

/* Read in growing steps up to max, never trusting a size stat() reports
 * (a FIFO, /dev/stdin or a file that grows as it is read has none that
 * holds); one byte more than max is the error, not a cut file. */
char *app_read_file(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf;
    size_t n = 0, cap = 65536;

    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    buf = mb_xmalloc(cap + 1);
    for (;;) {
        size_t r;
        if (n == cap) {
            if (cap >= max) {
                snprintf(why, whylen, "larger than %zu bytes", max);
                goto fail;
            }
            cap = cap * 2 > max ? max : cap * 2;
            buf = mb_xrealloc(buf, cap + 1);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                snprintf(why, whylen, "%s", strerror(errno));
                goto fail;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    if (f != stdin)
        fclose(f);
    mb_free(buf);
    return NULL;
}

/* No --config: the defaults of docs/design.md, as an empty file gives.
 * A config that does not parse stops the process at start: running with
 * half of what the operator wrote would be worse than not running. */
bool app_load_config(const char *path, struct cfg *out)
{
    char why[256];
    size_t len;
    char *buf;
    struct mb_diag d = {0};

    if (!path || !*path) {
        cfg_defaults(out);
        return true;
    }
    buf = app_read_file(path, CFG_MAX_FILE_BYTES, &len, why, sizeof why);
    if (!buf) {
        fprintf(stderr, "membudget: config %s: %s\n", path, why);
        return false;
    }
    if (cfg_parse(buf, len, path, out, &d)) {
        fprintf(stderr, "membudget: config error: %s\n", d.msg);
        mb_free(buf);
        return false;
    }
    mb_free(buf);
    return true;
}

bool app_metrics_auth_flag(const char *cmd, const char *v, bool *on)
{
    if (!strcmp(v, "none") || !strcmp(v, "kubernetes")) {
        *on = !strcmp(v, "kubernetes");
        return true;
    }
    fprintf(stderr, "membudget %s: --metrics-auth: \"%s\" is not none or kubernetes\n", cmd, v);
    return false;
}
