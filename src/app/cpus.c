/*
 * cpus.c -- how many CPUs this process may use (shell): the webhook's
 * default number of workers. The affinity mask first, lowered to the
 * cgroup's CPU quota (v2 cpu.max, v1 cfs_quota/period) when one is set:
 * a pod limited to 2 CPUs on a 64-core node must not start 64 workers.
 */
#include <sched.h>
#include <stdio.h>
#include "app_int.h"

/* The cgroup's CPU quota in CPUs (rounded up), or 0 when there is none:
 * cgroup v2 cpu.max ("max 100000" or "150000 100000"), else v1's
 * cfs_quota_us / cfs_period_us. */
static unsigned cgroup_cpus(void)
{
    long long quota = -1, period = 0;
    char q[32];
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");

    if (f) {
        if (fscanf(f, "%31s %lld", q, &period) == 2 && sscanf(q, "%lld", &quota) != 1)
            quota = -1; /* "max" */
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
        if (fscanf(f, "%lld", &quota) != 1)
            quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%lld", &period) != 1)
                period = 0;
            fclose(f);
        }
    }
    if (quota <= 0 || period <= 0)
        return 0;
    return (unsigned)((quota + period - 1) / period);
}

unsigned app_default_workers(void)
{
    cpu_set_t set;
    unsigned n = 1, q = cgroup_cpus();

    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = (unsigned)CPU_COUNT(&set);
    if (q && q < n)
        n = q;
    return n ? n : 1;
}
