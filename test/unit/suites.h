/* suites.h -- one Suite constructor per module; main.c runs them all. */
#ifndef MB_TEST_SUITES_H
#define MB_TEST_SUITES_H

#include <check.h>

Suite *base_suite(void);
Suite *qty_suite(void);
Suite *ydoc_suite(void);
Suite *ann_suite(void);
Suite *jpatch_suite(void);
Suite *policy_suite(void);
Suite *review_suite(void);
Suite *cfg_suite(void);
Suite *mx_suite(void);
Suite *lint_suite(void);
Suite *celpolicy_suite(void);
Suite *kube_suite(void);
Suite *pc_suite(void);
Suite *scrape_suite(void);
Suite *brk_suite(void);
Suite *planner_suite(void);
Suite *signals_suite(void);
Suite *forensics_suite(void);
Suite *pprof_suite(void);
Suite *seams_suite(void);
Suite *opsauth_suite(void);
Suite *webhook_io_suite(void);
Suite *kube_io_suite(void);
Suite *kube_io_cluster_suite(void); /* the real cluster: MB_KUBE_IO_KUBECONFIG */

#endif
