/*
 * main.c -- `membudget`: the subcommand dispatch and `version` (shell).
 * cmd/membudget/main.c calls mb_main(); each subcommand is a cmd_*
 * function of src/app (app_int.h). Process-wide set-up happens here once:
 * jansson allocating through membudget's hooks (alloc.c).
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/app.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} CMDS[] = {
    {"run", cmd_run, "webhook and controller in one process (small clusters, the demo)"},
    {"controller", cmd_controller,
     "watch pods and act on their memory budgets (--leader-elect for replicas)"},
    {"webhook", cmd_webhook,
     "serve the HTTPS admission webhook (/validate, /validate/audit, /mutate)"},
    {"status", cmd_status,
     "print the pods a controller tracks (its /debug/pods), or --recommend budgets"},
    {"profiles", cmd_profiles,
     "list, fetch and diff the heap profiles and goroutine dumps membudget captured"},
    {"certs", cmd_certs,
     "create or renew the webhook's certificate Secret and inject its CA (Helm hook Job)"},
    {"lint", cmd_lint, "check manifests against the admission policy, offline"},
    {"policy", cmd_policy,
     "render the admission rules as ValidatingAdmissionPolicy/MutatingAdmissionPolicy"},
    {"version", cmd_version, "print version, git commit and library versions"},
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "membudget keeps memory-hungry services inside a declared memory budget on Kubernetes.\n\n"
        "Usage: membudget COMMAND [flags]\n\nCommands:\n");
    for (size_t i = 0; i < MB_ARRAY_LEN(CMDS); i++)
        fprintf(f, "  %-10s %s\n", CMDS[i].name, CMDS[i].help);
    fprintf(f, "\nRun 'membudget COMMAND --help' for a command's flags.\n");
}

int cmd_version(int argc, char **argv)
{
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("Usage: membudget version\n\nPrints the version, the git commit and the versions "
               "of the libraries in use.\n");
        return 0;
    }
    if (argc > 0) {
        fprintf(stderr, "membudget version: takes no arguments\n");
        return 2;
    }
    printf("membudget %s (commit %s)\n", MB_VERSION, MB_COMMIT);
    printf("  libevent %s\n  %s\n  jansson %s\n  libyaml %s\n  %s\n", event_get_version(),
           curl_version(), jansson_version_str(), yaml_get_version_string(),
           OpenSSL_version(OPENSSL_VERSION));
    return 0;
}

int mb_main(int argc, char **argv)
{
    mb_alloc_install_json();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(0, NULL);
    for (size_t i = 0; i < MB_ARRAY_LEN(CMDS); i++)
        if (!strcmp(argv[1], CMDS[i].name))
            return CMDS[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "membudget: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
