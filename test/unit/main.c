/*
 * main.c -- the unit test runner. CK_RUN_SUITE=qty runs one suite,
 * CK_FORK=no runs in-process (for valgrind and gdb). MB_KUBE_IO_KUBECONFIG
 * (a real cluster's admin kubeconfig) adds the kube_io_cluster suite.
 */
#include <stdlib.h>
#include "membudget/alloc.h"
#include "suites.h"

int main(void)
{
    SRunner *sr;
    int failed;

    mb_alloc_install_json();
    sr = srunner_create(base_suite());
    srunner_add_suite(sr, qty_suite());
    srunner_add_suite(sr, ydoc_suite());
    srunner_add_suite(sr, ann_suite());
    srunner_add_suite(sr, jpatch_suite());
    srunner_add_suite(sr, policy_suite());
    srunner_add_suite(sr, review_suite());
    srunner_add_suite(sr, cfg_suite());
    srunner_add_suite(sr, mx_suite());
    srunner_add_suite(sr, lint_suite());
    srunner_add_suite(sr, celpolicy_suite());
    srunner_add_suite(sr, kube_suite());
    srunner_add_suite(sr, pc_suite());
    srunner_add_suite(sr, scrape_suite());
    srunner_add_suite(sr, brk_suite());
    srunner_add_suite(sr, planner_suite());
    srunner_add_suite(sr, signals_suite());
    srunner_add_suite(sr, forensics_suite());
    srunner_add_suite(sr, pprof_suite());
    srunner_add_suite(sr, opsauth_suite());
    srunner_add_suite(sr, seams_suite());
    srunner_add_suite(sr, webhook_io_suite());
    srunner_add_suite(sr, kube_io_suite());
    /* only against a real cluster (test/e2e/cluster_run.sh names its kubeconfig) */
    if (getenv("MB_KUBE_IO_KUBECONFIG"))
        srunner_add_suite(sr, kube_io_cluster_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
