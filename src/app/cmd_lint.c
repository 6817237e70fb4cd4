/* cmd_lint.c -- `membudget lint FILE...` (shell: reads files, prints). */
#include <stdio.h>
#include <string.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/lint.h"

#define LINT_MAX_FILE (64u << 20)

int cmd_lint(int argc, char **argv)
{
    const char *config;
    bool quiet;
    const struct flag FLAGS[] = {
        {"config", "FILE", "", "config file whose admission section applies (as in the webhook)", &config, NULL, false},
        {"quiet", NULL, "false", "print violations only, no summary", NULL, &quiet, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char **pos = mb_xcalloc((size_t)argc + 1, sizeof *pos);
    size_t npos;
    int r = flags_parse("lint", "[flags] FILE... (\"-\" reads stdin)", FLAGS, argc, argv, pos, &npos);
    struct cfg cfg;
    struct lint_stats st = {0};
    int status;

    if (r) {
        mb_free(pos);
        return r == 1 ? 0 : 2;
    }
    if (npos == 0) {
        fprintf(stderr, "membudget lint: no files (use - for stdin)\n");
        mb_free(pos);
        return 2;
    }
    if (!app_load_config(config, &cfg)) {
        mb_free(pos);
        return 2;
    }
    for (size_t i = 0; i < npos; i++) {
        char why[256];
        size_t len;
        const char *name = strcmp(pos[i], "-") ? pos[i] : "<stdin>";
        char *buf = app_read_file(pos[i], LINT_MAX_FILE, &len, why, sizeof why);
        struct mb_buf out;

        if (!buf) {
            fprintf(stderr, "%s: error: %s\n", name, why);
            st.bad_inputs++;
            continue;
        }
        mb_buf_init(&out, (size_t)-1 / 2);
        lint_buffer(&cfg.admission, name, buf, len, &out, &st);
        fwrite(mb_buf_str(&out), 1, out.len, stdout);
        mb_buf_cleanup(&out);
        mb_free(buf);
    }
    if (!quiet)
        fprintf(stderr, "membudget lint: %zu object(s) checked, %zu skipped, %zu violation(s), %zu unreadable input(s)\n",
                st.objects, st.skipped, st.violations, st.bad_inputs);
    status = st.bad_inputs ? 2 : st.violations ? 1 : 0;
    cfg_cleanup(&cfg);
    mb_free(pos);
    return status;
}
