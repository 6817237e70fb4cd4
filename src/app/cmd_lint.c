/*
 * cmd_lint.c -- `membudget lint FILE...` (shell): manifests checked with
 * the webhook's own policy before they reach a cluster (lint.c decides;
 * this file reads the files, prints the findings and the summary, and
 * sets the exit code: 0 clean, 1 violations, 2 unreadable input).
 */
#include <stdio.h>
#include <string.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/lint.h"

#define LINT_MAX_FILE (64u << 20)
#define LINT_MAX_KINDS 64

/* The pod-template kinds: the defaults, then each --pod-template (one for
 * a group/kind already listed replaces its path). Returns false after
 * printing what is wrong. */
static bool lint_kinds(const char *flag, struct lint_kind *kinds, size_t *n)
{
    char *list = mb_xstrdup(flag), *save = NULL;
    bool ok = true;

    *n = 0;
    for (size_t i = 0; i < LINT_NDEFAULT_KINDS; i++) {
        char why[256];
        MB_ASSERT(lint_kind_parse(LINT_DEFAULT_KINDS[i], &kinds[(*n)++], why, sizeof why));
    }
    for (char *e = strtok_r(list, ",", &save); e && ok; e = strtok_r(NULL, ",", &save)) {
        struct lint_kind k;
        char why[256];
        size_t j;
        if (!lint_kind_parse(e, &k, why, sizeof why)) {
            fprintf(stderr, "membudget lint: --pod-template: %s\n", why);
            ok = false;
            break;
        }
        for (j = 0; j < *n; j++)
            if (!strcmp(kinds[j].group, k.group) && !strcmp(kinds[j].kind, k.kind))
                break;
        if (j == LINT_MAX_KINDS) {
            fprintf(stderr, "membudget lint: --pod-template: more than %d kinds\n", LINT_MAX_KINDS);
            ok = false;
            break;
        }
        kinds[j] = k;
        if (j == *n)
            (*n)++;
    }
    mb_free(list);
    return ok;
}

static bool output_format(const char *output, enum lint_format *out)
{
    static const struct {
        const char *name;
        enum lint_format f;
    } F[] = {{"text", LINT_TEXT}, {"json", LINT_JSON}, {"github", LINT_GITHUB}};
    for (size_t i = 0; i < MB_ARRAY_LEN(F); i++) {
        if (!strcmp(output, F[i].name)) {
            *out = F[i].f;
            return true;
        }
    }
    fprintf(stderr, "membudget lint: --output: \"%s\" is not text, json or github\n", output);
    return false;
}

/* Every file is read first: the LimitRanges of the whole input decide what
 * a template without a memory limit gets, wherever they are. Then each
 * file's findings, in order. */
static void lint_files(struct lint_opts *opts, char **files, size_t n, struct lr_set *lrs,
                       struct lint_stats *st)
{
    char **bufs = mb_xcalloc(n, sizeof *bufs);
    size_t *lens = mb_xcalloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        char why[256];
        const char *name = strcmp(files[i], "-") ? files[i] : "<stdin>";
        bufs[i] = app_read_file(files[i], LINT_MAX_FILE, &lens[i], why, sizeof why);
        if (!bufs[i]) {
            fprintf(stderr, "%s: error: %s\n", name, why);
            st->bad_inputs++;
            continue;
        }
        lint_collect_limitranges(opts, bufs[i], lens[i], lrs);
    }
    opts->limitranges = lrs;
    for (size_t i = 0; i < n; i++) {
        const char *name = strcmp(files[i], "-") ? files[i] : "<stdin>";
        struct mb_buf out;
        if (!bufs[i])
            continue;
        mb_buf_init(&out, (size_t)-1 / 2);
        lint_buffer(opts, name, bufs[i], lens[i], &out, st);
        fwrite(mb_buf_str(&out), 1, out.len, stdout);
        mb_buf_cleanup(&out);
        MB_FREE(bufs[i]);
    }
    mb_free(bufs);
    mb_free(lens);
}

static void summary(const struct lint_stats *st, const struct lr_set *lrs)
{
    fprintf(stderr,
            "membudget lint: %zu object(s) checked, %zu skipped, %zu violation(s), %zu warning(s), "
            "%zu unreadable document(s)\n",
            st->objects, st->skipped, st->violations, st->warnings, st->bad_inputs);
    if (st->assumed)
        fprintf(stderr,
                "membudget lint: assumed for %zu object(s) without a memory limit that a "
                "LimitRange of their namespace gives one: the input has no LimitRange "
                "there (%zu LimitRange(s) read in all); add the namespaces' LimitRanges "
                "(kubectl get limitranges -A -o yaml) to check them as the webhook does\n",
                st->assumed, lr_set_count(lrs));
}

int cmd_lint(int argc, char **argv)
{
    const char *config, *output, *templates;
    bool quiet;
    const struct flag FLAGS[] = {
        {"config", "FILE", "", "config file whose admission section applies (as in the webhook)",
         &config, NULL, false},
        {"output", "FORMAT", "text",
         "text (FILE:LINE:COL: ...), json (one object per finding and line) or github (workflow "
         "annotations)",
         &output, NULL, false},
        {"pod-template", "\"GROUP/KIND: PATH\"", "",
         "another kind whose pod template to check, e.g. \"example.com/Worker: spec.podTemplate\" "
         "(repeatable; argoproj.io/Rollout and apps.kruise.io/CloneSet at spec.template are built "
         "in)",
         &templates, NULL, true},
        {"quiet", NULL, "false", "print findings only, no summary", NULL, &quiet, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char **pos = mb_xcalloc((size_t)argc + 1, sizeof *pos);
    size_t npos, nkinds = 0;
    int r =
        flags_parse("lint", "[flags] FILE... (\"-\" reads stdin)", FLAGS, argc, argv, pos, &npos);
    struct lint_kind kinds[LINT_MAX_KINDS];
    struct cfg cfg;
    struct lint_stats st = {0};
    struct lint_opts opts = {0};
    struct lr_set lrs;

    if (!r && npos == 0) {
        fprintf(stderr, "membudget lint: no files (use - for stdin)\n");
        r = 2;
    }
    if (r || !output_format(output, &opts.format) || !lint_kinds(templates, kinds, &nkinds) ||
        !app_load_config(config, &cfg)) {
        mb_free(pos);
        return r == 1 ? 0 : 2;
    }
    opts.conf = &cfg.admission;
    opts.kinds = kinds;
    opts.nkinds = nkinds;
    lr_set_init(&lrs);
    lint_files(&opts, pos, npos, &lrs, &st);
    if (!quiet)
        summary(&st, &lrs);
    lr_set_cleanup(&lrs);
    cfg_cleanup(&cfg);
    mb_free(pos);
    return st.bad_inputs ? 2 : st.violations ? 1 : 0;
}
